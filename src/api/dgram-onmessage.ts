/**
 * `onmessage`, byway's receive-into-a-buffer option for dgram sockets (createSocket's options), the counterpart
 * of node:net's `onread`: each datagram is copied into a buffer the application owns (one buffer reused, or one
 * its function hands out before each datagram) and given to a callback with the count copied and a RemoteInfo that
 * is reused from one datagram to the next, instead of a fresh Buffer and rinfo per 'message' event. A ping-pong
 * then allocates nothing per datagram in the socket layer (bench/udp-alloc.ts --reuse). While it is set, no
 * 'message' event is emitted.
 *
 * - A datagram longer than the buffer is cut to the buffer's length (recvmsg's MSG_TRUNC); `rinfo.size` is the
 *   datagram's whole length, so `nread < rinfo.size` says it was cut.
 * - The RemoteInfo and (with a fixed buffer) the bytes are valid only during the callback: the next datagram
 *   overwrites them. Keep a copy to keep them.
 * - On the kernel path (node:dgram underneath) the same callback is fed from node:dgram's 'message' event: the
 *   same contract, without the saving.
 */
import type dgram from 'node:dgram';
import { copyRange } from '../../protocols/util/bytes.js';
import { bufferFor, checkIntoBuffer, divertEvent } from './into-buffer.js';

export interface RemoteInfoLike {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface OnMessage {
  /** Where each datagram is copied: one buffer, reused, or a function asked for one before each datagram. */
  buffer: Uint8Array | (() => Uint8Array);
  /** The bytes copied (at most the buffer's length), the buffer, and the sender (reused: valid during the call). */
  callback: (nread: number, buf: Uint8Array, rinfo: RemoteInfoLike) => void;
}

/** The option as createSocket validates it (node:net's check of onread, naming options.onmessage). */
export function checkOnMessage(v: unknown): OnMessage {
  return checkIntoBuffer<OnMessage>(v, 'options.onmessage');
}

/** One socket's delivery into the application's buffer, with its one RemoteInfo. */
export class MessageInto {
  private readonly rinfo: RemoteInfoLike = { address: '', family: 'IPv4', port: 0, size: 0 };

  constructor(
    private readonly on: OnMessage,
    private readonly self: unknown,
  ) {}

  /** The datagram src[start, end) from `address`:`port` of `family`. */
  deliver(src: Uint8Array, start: number, end: number, address: string, family: 'IPv4' | 'IPv6', port: number): void {
    const on = this.on;
    const buf = bufferFor(on);
    const size = end - start;
    const n = size < buf.length ? size : buf.length;
    copyRange(src, start, n, buf, 0);
    const r = this.rinfo;
    r.address = address;
    r.family = family;
    r.port = port;
    r.size = size;
    on.callback.call(this.self, n, buf, r);
  }
}

/** The kernel path: node:dgram's 'message' events go to the same callback and to no listener, as on byway's path. */
export function attachKernel(sock: dgram.Socket, on: OnMessage): void {
  const into = new MessageInto(on, sock);
  divertEvent(sock, 'message', (msg: unknown, rinfo: unknown) => {
    const m = msg as Buffer;
    const r = rinfo as dgram.RemoteInfo;
    into.deliver(m, 0, m.length, r.address, r.family as 'IPv4' | 'IPv6', r.port);
  });
}
