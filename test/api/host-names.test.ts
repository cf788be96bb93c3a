/**
 * Host names as node:net and node:dgram resolve them: the `lookup` option (default dns.lookup), the 'lookup' event,
 * ENOTFOUND with `hostname`, 'localhost' on listen/bind/connect meaning the stack's loopback (answered without the
 * driver), and the path strategy deciding on the resolved address, not on the name.
 */
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import dns from 'node:dns';
import dgram from 'node:dgram';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import type { LookupFunction, LookupOptions } from '../../src/api/lookup.js';
import type { Socket } from '../../src/api/net.js';
import { once } from './harness.js';

/** A resolver that knows a few names, recording what it was asked (the family in particular). */
function fakeLookup(names: Record<string, string>): { lookup: LookupFunction; asked: Array<[string, LookupOptions]> } {
  const asked: Array<[string, LookupOptions]> = [];
  const lookup: LookupFunction = (host, options, cb) => {
    asked.push([host, options]);
    const address = net.isIP(host) !== 0 ? host : names[host]; // node:dgram looks up the literals it binds to, too
    setImmediate(() => {
      if (address === undefined) cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host }), '');
      else if (options.all) (cb as (e: null, list: unknown) => void)(null, [{ address, family: net.isIP(address) }]); // as dns.lookup with all
      else cb(null, address, net.isIP(address));
    });
  };
  return { lookup, asked };
}

/** Write `text`, read until the echo has come back whole, end. */
async function echoOnce(sock: net.Socket | Socket, text: string): Promise<string> {
  let got = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (got += d));
  sock.write(text);
  while (got.length < text.length) await once(sock, 'data');
  sock.end();
  return got;
}

describe('host names', () => {
  let stacks: Stack[] = [];
  const servers: net.Server[] = [];
  afterEach(async () => {
    for (const s of stacks) s.close();
    stacks = [];
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  });

  it("TCP through the lookup option: the strategy decides on the resolved address ('lookup' event, path)", async () => {
    const [da, db] = memoryLink();
    // 127.0.0.0/8 goes to the kernel; everything else is byway's.
    const a = createStack({ driver: da, address: '10.0.0.1/24', path: { rules: [{ cidr: '127.0.0.0/8', path: 'kernel' }], default: 'bypass' } });
    const b = createStack({ driver: db, address: '10.0.0.2/24' });
    stacks.push(a, b);
    const bypassServer = b.net.createServer((s) => s.pipe(s)).listen(7001, '10.0.0.2');
    await once(bypassServer, 'listening');
    const kernelServer = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
    servers.push(kernelServer);
    await once(kernelServer, 'listening');
    const kernelPort = (kernelServer.address() as net.AddressInfo).port;
    const { lookup, asked } = fakeLookup({ 'db.internal': '10.0.0.2', 'cache.internal': '127.0.0.1' });

    const toBypass = a.net.createConnection({ host: 'db.internal', port: 7001, lookup }) as Socket;
    const lookedUp = once<unknown[]>(toBypass, 'lookup');
    expect(toBypass.remoteAddress).toBeUndefined(); // not before it is connected
    expect(await lookedUp).toEqual([null, '10.0.0.2', 4, 'db.internal']);
    await once(toBypass, 'connect');
    expect(toBypass.path).toBe('bypass');
    expect(toBypass.remoteAddress).toBe('10.0.0.2');
    expect(await echoOnce(toBypass, 'to the bypass path')).toBe('to the bypass path');

    const toKernel = a.net.createConnection({ host: 'cache.internal', port: kernelPort, lookup }) as Socket;
    expect(toKernel).toBeInstanceOf(a.net.Socket);
    await once(toKernel, 'connect');
    expect(toKernel.path).toBe('kernel');
    expect(toKernel.remoteAddress).toBe('127.0.0.1');
    expect(toKernel.remotePort).toBe(kernelPort);
    expect(await echoOnce(toKernel, 'to the kernel path')).toBe('to the kernel path');
    await once(toKernel, 'close');

    // Asked as node:net asks (autoSelectFamily on by default: every address, any family, ADDRCONFIG).
    expect(asked).toEqual([
      ['db.internal', { family: undefined, hints: dns.ADDRCONFIG, all: true }],
      ['cache.internal', { family: undefined, hints: dns.ADDRCONFIG, all: true }],
    ]);
  });

  it('TCP: a failed lookup destroys the socket with the resolver\'s error (dns.lookup: ENOTFOUND with hostname)', async () => {
    const [da] = memoryLink();
    const a = createStack({ driver: da, address: '10.0.0.1/24' });
    stacks.push(a);
    const sock = a.net.createConnection({ host: 'nowhere.invalid', port: 80 });
    const [err] = await once<[NodeJS.ErrnoException & { hostname?: string }]>(sock, 'error');
    expect(err.code).toBe('ENOTFOUND');
    expect(err.hostname).toBe('nowhere.invalid');
    expect(err.syscall).toBe('getaddrinfo');
  });

  it("TCP through dns.lookup: 'localhost' on listen and connect is the stack's loopback, without the driver", async () => {
    const [da] = memoryLink();
    const a = createStack({ driver: da, address: '10.0.0.1/24' });
    stacks.push(a);
    const txBefore = a.stats.ethernet.tx; // the stack's own announcement, if any
    const accepted: unknown[] = [];
    const server = a.net
      .createServer((s) => {
        accepted.push(s);
        s.pipe(s);
      })
      .listen(0, 'localhost');
    await once(server, 'listening');
    expect(server.address()?.address).toBe('127.0.0.1');
    const sock = a.net.createConnection(server.address()!.port, 'localhost') as Socket;
    const [, address, family, host] = await once<unknown[]>(sock, 'lookup');
    expect([address, family, host]).toEqual(['127.0.0.1', 4, 'localhost']);
    await once(sock, 'connect');
    expect(sock.path).toBe('bypass');
    expect(sock.remoteAddress).toBe('127.0.0.1');
    expect(await echoOnce(sock, 'over loopback')).toBe('over loopback');
    expect(sock).toBeInstanceOf(a.net.Socket);
    expect(accepted[0]).toBeInstanceOf(a.net.Socket); // accepted sockets too, as node:net's
    expect(a.stats.ethernet.tx).toBe(txBefore); // nothing went to the driver
    expect(a.stats.ipv4.loopback).toBeGreaterThan(0);
  });

  it('UDP through the lookup option and through dns.lookup (bind and send to localhost)', async () => {
    const [da, db] = memoryLink();
    const a = createStack({ driver: da, address: '10.0.0.1/24' });
    const b = createStack({ driver: db, address: '10.0.0.2/24' });
    stacks.push(a, b);
    const { lookup, asked } = fakeLookup({ 'db.internal': '10.0.0.2' });

    const receiver = b.dgram.createSocket('udp4');
    receiver.bind(7002, '10.0.0.2');
    await once(receiver, 'listening');
    const sender = a.dgram.createSocket({ type: 'udp4', lookup });
    const got = once<[Buffer, { address: string }]>(receiver, 'message');
    sender.send('by name', 7002, 'db.internal');
    const [msg, rinfo] = await got;
    expect(msg.toString()).toBe('by name');
    expect(rinfo.address).toBe('10.0.0.1');
    expect(asked.map(([h]) => h)).toEqual(['db.internal']);

    // A name the resolver does not know: the send's callback gets its error.
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => sender.send('x', 7002, 'nowhere.internal', (err) => resolve(err!)));
    expect((await failed).code).toBe('ENOTFOUND');

    // dns.lookup: 'localhost' on bind and send, answered by the stack itself.
    const txBefore = a.stats.ethernet.tx;
    const local = a.dgram.createSocket('udp4');
    local.bind(0, 'localhost');
    await once(local, 'listening');
    expect(local.address().address).toBe('127.0.0.1');
    const echoed = once<[Buffer, { address: string }]>(local, 'message');
    a.dgram.createSocket('udp4').send('to localhost', local.address().port, 'localhost');
    const [m2, r2] = await echoed;
    expect(m2.toString()).toBe('to localhost');
    expect(r2.address).toBe('127.0.0.1');
    expect(a.stats.ethernet.tx).toBe(txBefore);
    sender.close();
    receiver.close();
    local.close();
  });
  it('UDP with a strategy of rules: the path is decided at the first send, connect or bind, on the resolved address', async () => {
    const [da, db] = memoryLink();
    const a = createStack({ driver: da, address: '10.0.0.1/24', path: { rules: [{ cidr: '127.0.0.0/8', path: 'kernel' }], default: 'bypass' } });
    const b = createStack({ driver: db, address: '10.0.0.2/24' });
    stacks.push(a, b);
    const { lookup, asked } = fakeLookup({ 'db.internal': '10.0.0.2', 'cache.internal': '127.0.0.1' });
    const peer = b.dgram.createSocket('udp4');
    peer.bind(7003, '10.0.0.2');
    await once(peer, 'listening');
    const kernelPeer = dgram.createSocket('udp4');
    kernelPeer.bind(0, '127.0.0.1');
    await once(kernelPeer, 'listening');

    // Before the first bind/connect/send: no path yet, and what an unbound node:dgram socket answers.
    const toBypass = a.dgram.createSocket({ type: 'udp4', lookup });
    expect(toBypass.path).toBeUndefined();
    expect(() => toBypass.address()).toThrowError(expect.objectContaining({ code: 'EBADF', syscall: 'getsockname' }));
    expect(() => toBypass.remoteAddress()).toThrowError(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' }));
    expect(() => toBypass.send('x', 70000, 'db.internal')).toThrowError(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    const got = once<[Buffer, { address: string }]>(peer, 'message');
    toBypass.send('by name to byway', 7003, 'db.internal');
    toBypass.send('and a second, queued behind the lookup', 7003, 'db.internal');
    expect((await got)[0].toString()).toBe('by name to byway');
    expect(toBypass.path).toBe('bypass');

    const toKernel = a.dgram.createSocket({ type: 'udp4', lookup });
    const gotKernel = once<[Buffer, { address: string }]>(kernelPeer, 'message');
    toKernel.connect(kernelPeer.address().port, 'cache.internal', () => toKernel.send('by name to the kernel'));
    const [m, rinfo] = await gotKernel;
    expect(m.toString()).toBe('by name to the kernel');
    expect(rinfo.address).toBe('127.0.0.1');
    expect(toKernel.path).toBe('kernel');
    // One question per send or connect, as node:dgram asks (the first one's answer is what the path was decided
    // on and what the socket was given; node:dgram's kernel socket looks that literal up again, as it does).
    expect(asked.filter(([h]) => net.isIP(h) === 0).map(([h, o]) => [h, o.family])).toEqual([
      ['db.internal', 4],
      ['db.internal', 4],
      ['cache.internal', 4],
    ]);

    // bind to a name through dns.lookup: 'localhost' resolves to 127.0.0.1, which the rules give to the kernel.
    const bound = a.dgram.createSocket('udp4');
    bound.bind(0, 'localhost');
    await once(bound, 'listening');
    expect(bound.path).toBe('kernel');
    expect(bound.address().address).toBe('127.0.0.1');

    // TCP through dns.lookup: 'localhost' is resolved, and the strategy decides on 127.0.0.1 (kernel).
    const kernelTcp = net.createServer((c) => c.end('kernel by localhost'));
    servers.push(kernelTcp);
    kernelTcp.listen(0, '127.0.0.1');
    await once(kernelTcp, 'listening');
    const viaName = a.net.createConnection((kernelTcp.address() as net.AddressInfo).port, 'localhost') as Socket;
    const lookedUp = once<unknown[]>(viaName, 'lookup');
    let text = '';
    viaName.setEncoding('utf8').on('data', (d: string) => (text += d));
    await once(viaName, 'close');
    expect(await lookedUp).toEqual([null, '127.0.0.1', 4, 'localhost']);
    expect(viaName.path).toBe('kernel');
    expect(text).toBe('kernel by localhost');

    // The socket keeps its one path: a datagram to an address the rules give to the kernel still takes byway's,
    // and is counted, with what happened.
    expect(a.pathStats.udpOtherPath).toBe(0);
    await new Promise<void>((resolve) => toBypass.send('elsewhere', 9, '127.0.0.1', () => resolve()));
    expect(a.pathStats).toEqual({ udpOtherPath: 1, lastOtherPath: "udp to 127.0.0.1:9 sent on the socket's bypass path; the strategy says kernel" });
    for (const s of [toBypass, toKernel, bound, peer, kernelPeer]) s.close();
    await once(toBypass, 'close');
  });

  it('udp6 names are asked with family 6; TCP to an IPv6 answer takes the kernel if the strategy says so, else the bypass path (TCP over IPv6)', async () => {
    const [da, db] = memoryLink();
    const a = createStack({
      driver: da,
      address: ['10.0.0.1/24', 'fd00::1/64'],
      ipv6: { dad: { dupAddrDetectTransmits: 0 } },
      path: { rules: [{ cidr: '::1/128', path: 'kernel' }], default: 'bypass' },
    });
    const b = createStack({ driver: db, address: ['10.0.0.2/24', 'fd00::2/64'], ipv6: { dad: { dupAddrDetectTransmits: 0 } } });
    stacks.push(a, b);
    await Promise.all([a.ready(), b.ready()]);
    const asked: Array<[string, LookupOptions]> = [];
    const names: Record<string, string> = { 'v6.internal': 'fd00::2', 'lo6.internal': '::1' };
    const lookup: LookupFunction = (host, options, cb) => {
      asked.push([host, options]);
      setImmediate(() => cb(null, names[host]!, 6));
    };
    const peer = b.dgram.createSocket('udp6');
    peer.bind(7004);
    await once(peer, 'listening');
    const s6 = a.dgram.createSocket({ type: 'udp6', lookup });
    const got = once<[Buffer, { address: string; family: string }]>(peer, 'message');
    s6.send('over IPv6 by name', 7004, 'v6.internal');
    const [m, rinfo] = await got;
    expect(m.toString()).toBe('over IPv6 by name');
    expect(rinfo).toMatchObject({ address: 'fd00::1', family: 'IPv6' });
    expect(s6.path).toBe('bypass');
    expect(asked).toEqual([['v6.internal', { family: 6, all: false }]]);

    // TCP: a name that resolves to IPv6 (family 6). The kernel path carries it (a node:net socket to ::1)...
    const kernelServer = net.createServer((c) => c.end('kernel over IPv6'));
    servers.push(kernelServer);
    kernelServer.listen(0, '::1');
    await once(kernelServer, 'listening');
    const viaKernel = a.net.createConnection({ host: 'lo6.internal', port: (kernelServer.address() as net.AddressInfo).port, family: 6, lookup }) as Socket;
    const lookedUp = once<unknown[]>(viaKernel, 'lookup');
    let text = '';
    viaKernel.setEncoding('utf8').on('data', (d: string) => (text += d));
    await once(viaKernel, 'close');
    expect(viaKernel.path).toBe('kernel');
    expect(text).toBe('kernel over IPv6');
    expect(await lookedUp).toEqual([null, '::1', 6, 'lo6.internal']);
    // ...and the bypass path carries it too (TCP over IPv6, issue #18 stage 2): nothing listens there, so refused.
    const viaBypass = a.net.createConnection({ host: 'v6.internal', port: 80, family: 6, lookup }) as Socket;
    const [err] = await once<[NodeJS.ErrnoException]>(viaBypass, 'error');
    expect(viaBypass.path).toBe('bypass');
    expect(err).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: 'fd00::2', port: 80 });
    // listen: '::' (dual-stack, as Linux's) takes IPv4 and IPv6; an IPv6 address of the stack takes IPv6.
    const any = b.net.createServer((c) => c.end('via ::')).listen(7005, '::');
    await once(any, 'listening');
    expect(any.address()).toMatchObject({ address: '::', family: 'IPv6', port: 7005 });
    for (const host of ['10.0.0.2', 'fd00::2']) {
      const c = a.net.createConnection(7005, host) as Socket;
      let via = '';
      c.setEncoding('utf8').on('data', (d: string) => (via += d));
      await once(c, 'close');
      expect(via).toBe('via ::');
    }
    const six = b.net.createServer().listen(7006, 'fd00::2');
    await once(six, 'listening');
    expect(six.address()).toEqual({ address: 'fd00::2', family: 'IPv6', port: 7006 });
    six.close();
    any.close();
    s6.close();
    peer.close();
  });

  it('ping() takes a host name: through the lookup option, dns.lookup for localhost, ENOTFOUND when it does not resolve', async () => {
    const [da, db] = memoryLink();
    const a = createStack({ driver: da, address: '10.0.0.1/24' });
    const b = createStack({ driver: db, address: '10.0.0.2/24' });
    stacks.push(a, b);
    const { lookup, asked } = fakeLookup({ 'peer.test': '10.0.0.2' });
    const reply = await a.ping('peer.test', { lookup });
    expect(reply.from).toBe('10.0.0.2');
    expect(asked).toEqual([['peer.test', { family: 4, all: false }]]);
    expect((await a.ping('localhost')).from).toBe('127.0.0.1'); // the stack's loopback, through dns.lookup
    const err = await a.ping('nowhere.test', { lookup }).then(() => undefined, (e: NodeJS.ErrnoException & { hostname?: string }) => e);
    expect(err).toMatchObject({ code: 'ENOTFOUND', hostname: 'nowhere.test' });
  });
});
