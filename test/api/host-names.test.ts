/**
 * Host names as node:net and node:dgram resolve them: the `lookup` option (default dns.lookup), the 'lookup' event,
 * ENOTFOUND with `hostname`, 'localhost' on listen/bind/connect meaning the stack's loopback (answered without the
 * driver), and the path strategy deciding on the resolved address, not on the name.
 */
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
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
    const address = names[host];
    setImmediate(() => {
      if (address === undefined) cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host }), '');
      else cb(null, address, 4);
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

    // Asked for IPv4, the bypass path's family.
    expect(asked.map(([h, o]) => [h, o.family])).toEqual([
      ['db.internal', 4],
      ['cache.internal', 4],
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
