/**
 * Two NetStacks over the in-memory link with one TCP connection between them, for bench/ab-inprocess.ts: the same
 * transactions and bulk loops as bench/inmemory-tcp.ts (64-byte request/response with noDelay, and 256 KiB writes
 * read back in 256 KiB reads), with nothing else. ab-inprocess copies this file into each revision's worktree and
 * bundles it there, so it uses only what the stack has offered for a long time (NetStack, memoryLink, tcp.listen,
 * tcp.connect, poll, send, read).
 */
import { memoryLink } from '../../drivers/memory/index.js';
import { parseCidr, parseIpv4 } from '../../protocols/ipv4/address.js';
import { seededRng } from '../../protocols/util/rng.js';
import { NetStack } from '../../src/stack/stack.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';

export interface Pair {
  /** `count` 64-byte request/response transactions. */
  transactions(count: number): void;
  /** `bytes` sent one way and read back. */
  bulk(bytes: number): void;
}

/** `link`: as bench/inmemory-tcp.ts's presets (ethernet: software checksums; veth: checksum offload both ways). */
export function makePair(link: 'ethernet' | 'veth'): Pair {
  const offload = { tx: 'offload', rx: 'trusted' } as const;
  const [da, db] = memoryLink({ mtu: 1500, queueLimit: 4096, ...(link === 'veth' ? { checksum: { ipv4: offload, icmp: offload, udp: offload, tcp: offload } } : {}) });
  const tcp = { sendBuffer: 4 << 20, receiveBuffer: 4 << 20, maxReceiveBuffer: 16 << 20 };
  const a = new NetStack({ driver: da, addresses: [parseCidr('10.0.0.1/24')!], rng: seededRng(1), tcp });
  const b = new NetStack({ driver: db, addresses: [parseCidr('10.0.0.2/24')!], rng: seededRng(2), tcp });
  const listener = b.tcp!.listen(0, 5001, 16);
  let accepted: TcpConnection | undefined;
  listener.onConnection = (c) => (accepted = c);
  let t = performance.now();
  const client = a.tcp!.connect(t, parseIpv4('10.0.0.2')!, 5001, { noDelay: true });
  // The clock is read once per step, as a poll loop reads it once per turn.
  const step = (): void => {
    t = performance.now();
    a.poll(t);
    b.poll(t);
  };
  while (accepted === undefined || client.state !== 'ESTABLISHED') step();
  const server = accepted;
  server.setNoDelay(true, t);
  const req = new Uint8Array(64).fill(1);
  const buf = new Uint8Array(4096);
  const chunk = new Uint8Array(256 * 1024).fill(0x42);
  const sink = new Uint8Array(256 * 1024);
  return {
    transactions(count) {
      for (let i = 0; i < count; i++) {
        client.send(t, req);
        for (let got = 0; got < 64; ) {
          step();
          got += server.read(t, buf);
        }
        server.send(t, req);
        for (let got = 0; got < 64; ) {
          step();
          got += client.read(t, buf);
        }
      }
    },
    bulk(bytes) {
      let sent = 0;
      let received = 0;
      while (received < bytes) {
        if (sent < bytes) sent += client.send(t, chunk.subarray(0, Math.min(chunk.length, bytes - sent)));
        step();
        for (let n = server.read(t, sink); n > 0; n = server.read(t, sink)) received += n;
      }
    },
  };
}
