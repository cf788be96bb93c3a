/**
 * stack.net over IPv6, on real time over a memory link: literals (zone ids for link-local), `family: 'IPv6'` in
 * address(), remoteFamily, dual-stack `::` servers showing IPv4 peers as ::ffff:a.b.c.d, ipv6Only, lookups with
 * family 6, Node's errors; the shapes compared with node:net's on ::1 and 127.0.0.1.
 */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { seededRng } from '../../protocols/util/rng.js';
import { eui64InterfaceId, formatIpv6, linkLocalAddress } from '../../protocols/ipv6/address.js';
import type { Socket } from '../../src/api/net.js';

let stacks: Stack[] = [];
let closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers) c();
  for (const s of stacks) s.close();
  stacks = [];
  closers = [];
});

function pair(a: string[], b: string[]): [Stack, Stack] {
  const [da, db] = memoryLink();
  const ipv6 = { dad: { dupAddrDetectTransmits: 0 } };
  const x = createStack({ driver: da, address: a.length > 0 ? a : undefined, rng: seededRng(31), ipv6 });
  const y = createStack({ driver: db, address: b.length > 0 ? b : undefined, rng: seededRng(32), ipv6 });
  stacks = [x, y];
  return [x, y];
}

type Shape = { local: unknown; remote: unknown; peer: unknown };
const shape = (s: net.Socket | Socket): Shape => ({
  local: { address: s.localAddress, family: s.localFamily, port: typeof s.localPort },
  remote: { address: s.remoteAddress, family: s.remoteFamily, port: typeof s.remotePort },
  peer: (() => {
    const a = s.address() as net.AddressInfo;
    return { address: a.address, family: a.family, port: typeof a.port };
  })(),
});

/** A server (byway's or node's) on `host`, a client to `to`: the shapes both ends see, and the echo. */
/** node:net or a stack's net, typed loosely: the test reads the same members of both. */
type NetLike = {
  createServer(l: (c: net.Socket) => void): net.Server;
  createConnection(o: { host: string; port: number }): net.Socket;
};

async function connectPair(
  srv: NetLike,
  cli: Pick<NetLike, 'createConnection'>,
  listen: net.ListenOptions,
  to: string,
): Promise<{ server: Shape; client: Shape; serverAddress: unknown; echo: string }> {
  let serverSide: Shape | undefined;
  const server = srv.createServer((c) => {
    serverSide = shape(c);
    c.pipe(c);
  });
  closers.push(() => server.close());
  server.listen(listen);
  await once(server, 'listening');
  const sa = server.address() as net.AddressInfo;
  const c = cli.createConnection({ host: to, port: sa.port });
  await once(c, 'connect');
  const client = shape(c);
  c.end('ping');
  let echo = '';
  c.setEncoding('utf8').on('data', (d: string) => (echo += d));
  await once(c, 'close');
  return { server: serverSide!, client, serverAddress: { ...sa, port: typeof sa.port }, echo };
}

describe('stack.net over IPv6', () => {
  it('connects to an IPv6 literal: the shapes node:net shows on ::1', async () => {
    const [a, b] = pair(['fd00::1/64'], ['fd00::2/64']);
    const byway = await connectPair(b.net as unknown as NetLike, a.net as unknown as NetLike, { port: 7000, host: '::' }, 'fd00::2');
    expect(byway.echo).toBe('ping');
    const kernel = await connectPair(net as unknown as NetLike, net as unknown as NetLike, { port: 0, host: '::' }, '::1');
    const swap = (x: unknown, from: string, to: string): unknown => JSON.parse(JSON.stringify(x).replaceAll(from, to));
    // Same shapes, the addresses aside.
    expect(swap(swap(byway.server, 'fd00::2', '::1'), 'fd00::1', '::1')).toEqual(kernel.server);
    expect(swap(swap(byway.client, 'fd00::2', '::1'), 'fd00::1', '::1')).toEqual(kernel.client);
    expect(byway.serverAddress).toEqual(kernel.serverAddress);
    expect(byway.client.remote).toEqual({ address: 'fd00::2', family: 'IPv6', port: 'number' });
    expect(byway.server.remote).toEqual({ address: 'fd00::1', family: 'IPv6', port: 'number' });
  });

  it('a dual-stack `::` server shows IPv4 peers as ::ffff:a.b.c.d, as node:net does', async () => {
    const [a, b] = pair(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64']);
    const byway = await connectPair(b.net as unknown as NetLike, a.net as unknown as NetLike, { port: 7001 }, '10.0.0.2');
    const kernel = await connectPair(net as unknown as NetLike, net as unknown as NetLike, { port: 0 }, '127.0.0.1');
    expect(byway.server).toEqual({
      local: { address: '::ffff:10.0.0.2', family: 'IPv6', port: 'number' },
      remote: { address: '::ffff:10.0.0.1', family: 'IPv6', port: 'number' },
      peer: { address: '::ffff:10.0.0.2', family: 'IPv6', port: 'number' },
    });
    expect(kernel.server).toEqual({
      local: { address: '::ffff:127.0.0.1', family: 'IPv6', port: 'number' },
      remote: { address: '::ffff:127.0.0.1', family: 'IPv6', port: 'number' },
      peer: { address: '::ffff:127.0.0.1', family: 'IPv6', port: 'number' },
    });
    expect(byway.client.remote).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 'number' });
    expect(byway.serverAddress).toEqual(kernel.serverAddress);
    expect(byway.serverAddress).toEqual({ address: '::', family: 'IPv6', port: 'number' });
  });

  it('ipv6Only: the `::` server refuses IPv4 (ECONNREFUSED) and a 0.0.0.0 server can share its port', async () => {
    const [a, b] = pair(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64']);
    const six = b.net.createServer((c) => c.end('six')).listen({ port: 7002, host: '::', ipv6Only: true });
    closers.push(() => six.close());
    await once(six, 'listening');
    const c4 = a.net.createConnection(7002, '10.0.0.2');
    const [err] = await once(c4, 'error');
    expect(err).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: '10.0.0.2', port: 7002 });
    const four = b.net.createServer((c) => c.end('four')).listen(7002, '0.0.0.0');
    closers.push(() => four.close());
    await once(four, 'listening');
    for (const [host, want] of [['10.0.0.2', 'four'], ['fd00::2', 'six']] as const) {
      const c = a.net.createConnection(7002, host);
      let got = '';
      c.setEncoding('utf8').on('data', (d: string) => (got += d));
      await once(c, 'close');
      expect(got).toBe(want);
    }
    // A dual-stack one on the same port: EADDRINUSE, as Linux's bind.
    const dual = b.net.createServer().listen(7002, '::');
    const [inUse] = await once(dual, 'error');
    expect(inUse).toMatchObject({ code: 'EADDRINUSE', syscall: 'listen' });
  });

  it('link-local with a zone id, and node:http over IPv6', async () => {
    const [a, b] = pair([], []);
    const ll = formatIpv6(linkLocalAddress(eui64InterfaceId(b.core.mac)));
    const app = http.createServer((req, res) => res.end(`hello ${req.url}`));
    const server = b.net.createServer((s) => app.emit('connection', s)).listen(80, `${ll}%eth0`);
    closers.push(() => server.close());
    await once(server, 'listening');
    expect(server.address()).toEqual({ address: ll, family: 'IPv6', port: 80 });
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ path: '/six', createConnection: () => a.net.createConnection({ host: `${ll}%eth0`, port: 80 }) as unknown as net.Socket }, (res) => {
          let t = '';
          res.setEncoding('utf8').on('data', (d: string) => (t += d)).on('end', () => resolve(t));
        })
        .on('error', reject);
    });
    expect(body).toBe('hello /six');
  });

  it('connections() lists IPv6 connections with their addresses', async () => {
    const [a, b] = pair(['fd00::1/64'], ['fd00::2/64']);
    const server = b.net.createServer(() => {}).listen(7009);
    closers.push(() => server.close());
    await once(server, 'listening');
    const c = a.net.createConnection(7009, 'fd00::2');
    closers.push(() => c.destroy());
    await once(c, 'connect');
    expect(a.connections()).toEqual([
      expect.objectContaining({ protocol: 'tcp', state: 'ESTABLISHED', localAddress: 'fd00::1', remoteAddress: 'fd00::2', remotePort: 7009 }),
    ]);
  });

  it('looks names up with family 6', async () => {
    const [a, b] = pair(['fd00::1/64'], ['fd00::2/64']);
    const server = b.net.createServer((c) => c.end('named')).listen(7003);
    closers.push(() => server.close());
    await once(server, 'listening');
    const asked: unknown[] = [];
    const lookup = (host: string, opts: { family?: number }, cb: (e: null, a: string, f: number) => void): void => {
      asked.push([host, opts.family]);
      setImmediate(() => cb(null, 'fd00::2', 6)); // as dns.lookup: later
    };
    const c = a.net.createConnection({ host: 'six.internal', port: 7003, family: 6, lookup });
    const looked = once(c, 'lookup');
    let got = '';
    c.setEncoding('utf8').on('data', (d: string) => (got += d));
    await once(c, 'close');
    expect(got).toBe('named');
    expect(asked).toEqual([['six.internal', 6]]);
    expect(await looked).toEqual([null, 'fd00::2', 6, 'six.internal']);
  });

  it("Node's errors: no IPv6 on the stack, an address not ours, a bad literal", async () => {
    const [da] = memoryLink();
    const v4 = createStack({ driver: da, address: '10.0.0.1/24' });
    stacks.push(v4);
    const c = v4.net.createConnection({ port: 80, host: 'fd00::2' });
    const [err] = await once(c, 'error');
    expect(err).toMatchObject({ code: 'ENETUNREACH', syscall: 'connect', address: 'fd00::2', port: 80 });
    const [, b] = pair(['fd00::1/64'], ['fd00::2/64']);
    const notOurs = b.net.createServer().listen(7004, 'fd00::9');
    const [e2] = await once(notOurs, 'error');
    expect(e2).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'listen' });
    expect(() => b.net.createConnection({ port: 80, host: 'fd00::1', localAddress: 'fd00::zz' })).toThrowError(
      expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS', name: 'TypeError' }),
    );
    const multicast = b.net.createConnection({ port: 80, host: 'ff02::1' });
    const [em] = await once(multicast, 'error');
    expect(em).toMatchObject({ code: 'ENETUNREACH', syscall: 'connect', address: 'ff02::1' });
    const refused = b.net.createConnection({ port: 9, host: 'fd00::1' });
    const [e3] = await once(refused, 'error');
    expect(e3).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: 'fd00::1', port: 9 });
  });
});
