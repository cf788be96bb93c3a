/**
 * IPv6 through the API (createStack, stack.ping, stack.dgram with udp6, path rules), on real time over a memory
 * link, and the shapes that must match node:dgram's on the kernel path (udp6 on ::1).
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { seededRng } from '../../protocols/util/rng.js';
import type { RemoteInfo } from '../../src/api/dgram.js';

let stacks: Stack[] = [];
afterEach(() => {
  for (const s of stacks) s.close();
  stacks = [];
});

/** Two stacks; DAD off unless `dad` (it costs 1-2 s of real time per start). */
function pair(a: string[], b: string[], dad = false): [Stack, Stack] {
  const [da, db] = memoryLink();
  const ipv6 = dad ? {} : { dad: { dupAddrDetectTransmits: 0 } };
  const x = createStack({ driver: da, address: a.length > 0 ? a : undefined, rng: seededRng(21), ipv6 });
  const y = createStack({ driver: db, address: b.length > 0 ? b : undefined, rng: seededRng(22), ipv6 });
  stacks = [x, y];
  return [x, y];
}

function message(s: { once(e: 'message', l: (m: Buffer, r: RemoteInfo) => void): unknown }): Promise<[Buffer, RemoteInfo]> {
  return new Promise((resolve) => s.once('message', (m, r) => resolve([m, r])));
}

describe('createStack with IPv6', () => {
  it('takes addresses of both families, lists them with their DAD state, and ready() waits for DAD', async () => {
    const [a] = pair(['10.0.0.1/24', 'fd00::1/64'], ['fd00::2/64'], true);
    const ll = a.addresses[1]!;
    expect(ll).toMatch(/^fe80::[0-9a-f:]+\/64 tentative$/);
    expect(a.addresses.slice(2)).toEqual(['fd00::1/64 tentative']);
    await expect(a.ping('fd00::2')).rejects.toMatchObject({ code: 'EADDRNOTAVAIL' });
    const t0 = Date.now();
    await a.ready();
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(a.addresses).toEqual(['10.0.0.1/24', ll.replace(' tentative', ''), 'fd00::1/64']);
    expect(a.stats.ndp!.dadProbesSent).toBe(2);
  });

  it('checks the ipv6 option like every other (names, kinds) and accepts IPv6 routes and gateways', () => {
    const [da, db] = memoryLink();
    expect(() => createStack({ driver: da, address: 'fd00::1/64', ipv6: { hopLimt: 3 } as never })).toThrowError(/unknown option ipv6.hopLimt; did you mean ipv6.hopLimit\?/);
    expect(() => createStack({ driver: da, address: 'fd00::1/64', ipv6: { dad: { retransMs: -1 } } })).toThrowError(/option ipv6.dad.retransMs must be/);
    expect(() => createStack({ driver: da, address: 'fd00::1' })).toThrowError(/an address with its prefix length/);
    const s = createStack({ driver: db, address: 'fd00::1/64', gateway: ['fd00::ff'], routes: [{ destination: '2001:db8::/32', gateway: 'fe80::1%eth0' }] });
    stacks = [s];
    expect(s.core.ipv6!.sourceFor(new Uint8Array(16).fill(0x20, 0, 1))).toBeUndefined(); // tentative yet
  });

  it('an IPv6-only stack needs no IPv4 address; ipv6: true gives a link-local-only one', async () => {
    const [da, db] = memoryLink();
    const a = createStack({ driver: da, ipv6: { dad: { dupAddrDetectTransmits: 0 } }, rng: seededRng(1) });
    const b = createStack({ driver: db, ipv6: { dad: { dupAddrDetectTransmits: 0 } }, rng: seededRng(2) });
    stacks = [a, b];
    expect(a.addresses).toHaveLength(1);
    const bLinkLocal = b.addresses[0]!.split('/')[0]!;
    const r = await a.ping(`${bLinkLocal}%byway0`);
    expect(r).toMatchObject({ from: bLinkLocal, ttl: 64, bytes: 56 });
  });
});

describe('stack.ping over IPv6', () => {
  it('pings both ways, and a silent address times out', async () => {
    const [a, b] = pair(['fd00::1/64'], ['fd00::2/64']);
    expect(await a.ping('fd00::2')).toMatchObject({ from: 'fd00::2', bytes: 56 });
    expect(await b.ping('fd00::1', { size: 3000 })).toMatchObject({ from: 'fd00::1', bytes: 3000 });
    await expect(a.ping('fd00::99', { timeoutMs: 200 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await expect(a.ping('not an address')).rejects.toMatchObject({ code: 'ENOTFOUND' }); // neither literal: a name, and the resolver's error
  });
});

describe('stack.dgram udp6', () => {
  it('echoes over IPv6 with Node-shaped address() and rinfo', async () => {
    const [a, b] = pair(['fd00::1/64'], ['fd00::2/64']);
    const server = b.dgram.createSocket('udp6');
    server.bind(7000);
    await once(server, 'listening');
    expect(server.address()).toEqual({ address: '::', family: 'IPv6', port: 7000 });
    server.on('message', (m, r) => server.send(m, r.port, r.address));
    const client = a.dgram.createSocket({ type: 'udp6' });
    const got = message(client);
    client.send('hello', 7000, 'fd00::2');
    const [msg, rinfo] = await got;
    expect(msg.toString()).toBe('hello');
    expect(rinfo).toEqual({ address: 'fd00::2', family: 'IPv6', port: 7000, size: 5 });
    expect(client.address()).toMatchObject({ address: '::', family: 'IPv6' });
    expect(a.stats.udp6!.tx).toBe(1);
    client.close();
    server.close();
  });

  it('sends to a link-local address with a zone id (accepted, ignored) and answers the sender', async () => {
    const [a, b] = pair([], []);
    const bLinkLocal = b.addresses[0]!.split('/')[0]!;
    const server = b.dgram.createSocket('udp6');
    server.on('message', (m, r) => server.send(m, r.port, r.address));
    server.bind(7005);
    await once(server, 'listening');
    const client = a.dgram.createSocket('udp6');
    const got = message(client);
    client.send('ll', 7005, `${bLinkLocal}%eth0`);
    const [m, r] = await got;
    expect(m.toString()).toBe('ll');
    expect(r).toMatchObject({ address: bLinkLocal, family: 'IPv6', port: 7005 });
    client.close();
    server.close();
  });

  it('binds a specific address and connects, with remoteAddress() in IPv6 form', async () => {
    const [a, b] = pair(['fd00::1/64'], ['fd00::2/64']);
    const server = b.dgram.createSocket('udp6');
    server.bind(7001, 'fd00::2');
    await once(server, 'listening');
    expect(server.address()).toEqual({ address: 'fd00::2', family: 'IPv6', port: 7001 });
    const client = a.dgram.createSocket('udp6');
    client.connect(7001, 'fd00::2');
    await once(client, 'connect');
    expect(client.remoteAddress()).toEqual({ address: 'fd00::2', family: 'IPv6', port: 7001 });
    const got = message(server);
    client.send('x');
    expect((await got)[1]).toMatchObject({ address: 'fd00::1', family: 'IPv6' });
    const bad = b.dgram.createSocket('udp6');
    bad.bind(7002, 'fd00::9');
    const [err] = await once(bad, 'error');
    expect(err).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'bind', message: 'bind EADDRNOTAVAIL fd00::9:7002' });
    const v4 = b.dgram.createSocket('udp6');
    v4.bind(7003, '10.0.0.2');
    expect((await once(v4, 'error'))[0]).toMatchObject({ code: 'EINVAL' });
    for (const s of [client, server, bad, v4]) s.close();
  });

  it('dual-stack: a udp6 socket on :: gets IPv4 as ::ffff:a.b.c.d and answers it over IPv4; ipv6Only does not', async () => {
    const [a, b] = pair(['10.0.0.1/24', 'fd00::1/64'], ['10.0.0.2/24', 'fd00::2/64']);
    const server = b.dgram.createSocket('udp6');
    server.bind(7000);
    await once(server, 'listening');
    server.on('message', (m, r) => server.send(m, r.port, r.address));
    const c4 = a.dgram.createSocket('udp4');
    const got = message(c4);
    const seen = message(server);
    c4.send('v4', 7000, '10.0.0.2');
    expect((await seen)[1]).toMatchObject({ address: '::ffff:10.0.0.1', family: 'IPv6', size: 2 });
    expect((await got)[1]).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 7000, size: 2 });
    // ipv6Only: the IPv4 port is free for a udp4 socket, and IPv4 datagrams do not reach the udp6 one.
    const only = b.dgram.createSocket({ type: 'udp6', ipv6Only: true });
    only.bind(7100);
    await once(only, 'listening');
    const beside = b.dgram.createSocket('udp4');
    beside.bind(7100);
    await once(beside, 'listening');
    const inUse = b.dgram.createSocket('udp6');
    inUse.bind(7000);
    expect((await once(inUse, 'error'))[0]).toMatchObject({ code: 'EADDRINUSE' });
    for (const s of [server, c4, only, beside]) s.close();
  });

  it('refuses udp6 on a stack without IPv6; net takes IPv6 literals (an unanswered neighbour: EHOSTUNREACH)', async () => {
    const [da] = memoryLink();
    const s = createStack({ driver: da, address: '10.0.0.1/24' });
    stacks = [s];
    expect(() => s.dgram.createSocket('udp6')).toThrowError(expect.objectContaining({ code: 'ERR_BYPASS_UNSUPPORTED' }));
    const [, db] = memoryLink();
    const t = createStack({ driver: db, address: 'fd00::1/64', ipv6: { dad: { dupAddrDetectTransmits: 0 } } });
    stacks.push(t);
    const sock = t.net.createConnection({ port: 80, host: 'fd00::2' });
    const [err] = await once(sock, 'error');
    expect(err).toMatchObject({ code: 'EHOSTUNREACH', syscall: 'connect', address: 'fd00::2', port: 80 });
  });
});

describe('path rules with IPv6 prefixes', () => {
  it('routes an IPv6 prefix to the kernel and the rest to bypass', () => {
    const [da] = memoryLink();
    const s = createStack({
      driver: da,
      address: ['10.0.0.1/24', 'fd00::1/64'],
      ipv6: { dad: { dupAddrDetectTransmits: 0 } },
      path: { rules: [{ cidr: ['fd00:1::/32', '10.9.0.0/16'], path: 'kernel' }], default: 'bypass' },
    });
    stacks = [s];
    const pick = (remoteAddress: string) => {
      const sock = s.dgram.createSocket({ type: 'udp6', flow: { direction: 'outbound', remoteAddress } });
      const path = sock.path;
      sock.close();
      return path;
    };
    expect(pick('fd00:1::5')).toBe('kernel');
    expect(pick('fd00:2::5')).toBe('bypass');
    expect(pick('::ffff:10.9.1.1')).toBe('kernel'); // a mapped address matches the IPv4 prefix
    expect(() => createStack({ driver: memoryLink()[0], address: '10.0.0.1/24', path: { rules: [{ cidr: 'fd00::/129', path: 'kernel' }], default: 'bypass' } })).toThrowError(/invalid CIDR/);
  });
});

describe('parity with node:dgram udp6 on the kernel path', () => {
  it('address() and rinfo have the same shapes', async () => {
    const k = dgram.createSocket('udp6');
    k.bind(0, '::1');
    await once(k, 'listening');
    const kc = dgram.createSocket('udp6');
    const got = new Promise<RemoteInfo>((r) => k.once('message', (_m, ri) => r(ri as RemoteInfo)));
    kc.send('x', k.address().port, '::1');
    const kernelRinfo = await got;
    const [a, b] = pair(['fd00::1/64'], ['fd00::2/64']);
    const s = b.dgram.createSocket('udp6');
    s.bind(0, 'fd00::2');
    await once(s, 'listening');
    const c = a.dgram.createSocket('udp6');
    const got2 = message(s);
    c.send('x', s.address().port, 'fd00::2');
    const [, bypassRinfo] = await got2;
    expect(Object.keys(bypassRinfo).sort()).toEqual(Object.keys(kernelRinfo).sort());
    expect(bypassRinfo.family).toBe(kernelRinfo.family);
    expect(Object.keys(s.address()).sort()).toEqual(Object.keys(k.address()).sort());
    expect(s.address().family).toBe(k.address().family);
    for (const x of [k, kc, s, c]) x.close();
  });
});
