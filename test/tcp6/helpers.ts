/** TCP over IPv6 between two in-memory stacks on the virtual clock (test/tcp6/*.test.ts). */
import { createHash } from 'node:crypto';
import { expect } from 'vitest';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { ListenFamily } from '../../protocols/tcp/listener.js';
import type { NetStack } from '../../src/stack/stack.js';
import { pattern } from '../stack/harness.js';
import { v6, type Pair6 } from '../ipv6/stack-helpers.js';

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The core's number for an address text: an IPv4 number, or an interned IPv6 id of `s`'s TCP layer. */
export function addrId(s: NetStack, text: string): number {
  if (text.includes(':')) return s.tcp!.addrs.intern(v6(text));
  return text.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);
}

export interface Transfer6 {
  got: Uint8Array;
  client: TcpConnection;
  server: TcpConnection;
}

/**
 * `size` bytes from p.a to p.b's `to`:port (b listens on `listenOn`, default the wildcard for `family`), read
 * as they come; checks every byte arrived, SHA-256 equal.
 */
export function transfer6(
  p: Pair6,
  to: string,
  size: number,
  o: { port?: number; family?: ListenFamily; listenOn?: string; until?: number; seed?: number } = {},
): Transfer6 {
  const port = o.port ?? 80;
  const listener = p.b.tcp!.listen(o.listenOn === undefined ? 0 : addrId(p.b, o.listenOn), port, 16, { family: o.family ?? 46 });
  let server: TcpConnection | undefined;
  listener.onConnection = (c) => (server = c);
  const client = p.a.tcp!.connect(p.clock.now(), addrId(p.a, to), port);
  const data = pattern(size, o.seed ?? 1);
  let sent = 0;
  const got = new Uint8Array(size);
  let recvd = 0;
  const scratch = new Uint8Array(65536);
  const pump = (): void => {
    if (client.state === 'ESTABLISHED' && sent < size) sent += client.send(p.clock.now(), data.subarray(sent));
    if (server) {
      for (let n = server.read(p.clock.now(), scratch); n > 0; n = server.read(p.clock.now(), scratch)) {
        got.set(scratch.subarray(0, n), recvd);
        recvd += n;
      }
    }
  };
  p.run(p.clock.now() + (o.until ?? 600_000), () => (pump(), recvd === size));
  expect(recvd).toBe(size);
  expect(sha(got)).toBe(sha(data));
  listener.close(p.clock.now());
  return { got, client, server: server! };
}
