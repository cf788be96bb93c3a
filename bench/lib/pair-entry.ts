/**
 * Two NetStacks over the in-memory link with one TCP connection between them, and the two loops the in-memory
 * benches time on it: 64-byte request/response transactions (noDelay both ways) and a bulk transfer (256 KiB writes
 * read back in 256 KiB reads, or taken as views). bench/inmemory-tcp.ts times them; bench/ab-inprocess.ts copies this
 * file into each revision's worktree and bundles it there, so it uses only what the stack has offered for a long
 * time (NetStack with gro and allocBytes, memoryLink, tcp.listen, tcp.connect, poll, send, read, readView, and the
 * runtime's systemClock).
 */
import { memoryLink } from '../../drivers/memory/index.js';
import { parseCidr, parseIpv4 } from '../../protocols/ipv4/address.js';
import { seededRng } from '../../protocols/util/rng.js';
import { NetStack } from '../../src/stack/stack.js';
import { systemClock } from '../../src/runtime/poll-loop.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';

/** What the link imitates and how the stacks run (bench/inmemory-tcp.ts's options). */
export interface PairConfig {
  readonly mtu: number;
  /** The link claims checksum offload both ways (no software checksum pass). */
  readonly offload: boolean;
  /** The link also segments (64 KiB packets). */
  readonly tso: boolean;
  /** Software GRO in both stacks (default true). */
  readonly gro?: boolean;
  /** The bulk receiver takes views of the receive queue (slabs from Buffer.allocUnsafeSlow, as the API's). */
  readonly views?: boolean;
  /** Both stacks' connections start at this ISN instead of RFC 6528's hash. */
  readonly isn?: number;
}

export interface Pair {
  /** `count` 64-byte request/response transactions. */
  transactions(count: number): void;
  /** `bytes` sent one way and read back. */
  bulk(bytes: number): void;
}

export function makePair(cfg: PairConfig): Pair {
  const offloaded = { tx: 'offload', rx: 'trusted' } as const;
  const checksum = cfg.offload || cfg.tso ? { checksum: { ipv4: offloaded, icmp: offloaded, udp: offloaded, tcp: offloaded } } : {};
  const [da, db] = memoryLink({ mtu: cfg.mtu, queueLimit: 4096, ...checksum, ...(cfg.tso ? { tso: 65535 } : {}) });
  const isn = cfg.isn;
  const tcp = { sendBuffer: 4 << 20, receiveBuffer: 4 << 20, maxReceiveBuffer: 16 << 20, ...(isn !== undefined ? { isn: () => isn } : {}) };
  const gro = cfg.gro ?? true;
  const views = cfg.views ?? false;
  const allocBytes = views ? Buffer.allocUnsafeSlow : undefined;
  const a = new NetStack({ driver: da, addresses: [parseCidr('10.0.0.1/24')!], rng: seededRng(1), tcp, gro, allocBytes });
  const b = new NetStack({ driver: db, addresses: [parseCidr('10.0.0.2/24')!], rng: seededRng(2), tcp, gro, allocBytes });
  const listener = b.tcp!.listen(0, 5001, 16);
  let accepted: TcpConnection | undefined;
  listener.onConnection = (c) => (accepted = c);
  // The runtime's clock (the poll loop's), read as the loop reads it: once per turn.
  const clock = systemClock;
  let t = clock.now();
  const client = a.tcp!.connect(t, parseIpv4('10.0.0.2')!, 5001, { noDelay: true });
  // The clock is read once per step and that time used until the next, as a poll loop reads it once per turn.
  const step = (): void => {
    t = clock.now();
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
        if (views) for (let v = server.readView(t, 65536); v.length > 0; v = server.readView(t, 65536)) received += v.length;
        else for (let n = server.read(t, sink); n > 0; n = server.read(t, sink)) received += n;
      }
    },
  };
}
