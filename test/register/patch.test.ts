/**
 * The preload's patches in one process, over an in-memory link: the "app" stack is patched (as the preload does),
 * the peer is a second byway stack. Programs written for node:net/http/dgram/tls (and fetch) take the path the
 * rules choose, carry `path`, and the flows are counted; loopback stays in the kernel; a flow byway cannot make
 * fails with its reason; uninstall() puts Node back.
 */
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithTools } from '../helpers/netns.js';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { compileStrategy } from '../../src/api/path.js';
import { parsePathRules, IMPLICIT_RULES } from '../../src/register/config.js';
import { installPatches, type Patches } from '../../src/register/patch.js';
import { newPathCounters } from '../../src/register/counters.js';
import { seededRng } from '../../protocols/util/rng.js';
import { selfSigned } from '../helpers/connect-by-name.js';

const APP = '10.0.0.1';
const PEER = '10.0.0.2';
const once = <T = unknown>(em: NodeJS.EventEmitter, ev: string): Promise<T> => new Promise((res) => em.once(ev, res as (v: unknown) => void));

describe('preload patches (in-memory link)', () => {
  let app: Stack;
  let peer: Stack;
  let patches: Patches;
  const counters = newPathCounters();
  const failures: string[] = [];
  const orig = { connect: net.connect, createSocket: dgram.createSocket, tlsConnect: tls.connect, listen: net.Server.prototype.listen };
  let peerHttp: ReturnType<typeof peer.net.createServer>;

  beforeAll(async () => {
    const [a, b] = memoryLink();
    app = createStack({ driver: a, address: `${APP}/24`, rng: seededRng(1) });
    peer = createStack({ driver: b, address: `${PEER}/24`, rng: seededRng(2) });
    const rules = parsePathRules('udp:53=kernel,tcp:9999=kernel,default=bypass');
    patches = installPatches(app, compileStrategy({ rules: [...rules.rules, ...IMPLICIT_RULES], default: rules.default }), counters, (w) => failures.push(w));
    // The peer: an HTTP server on byway (port 80) answering with the path and a body of the asked size.
    const site = http.createServer((req, res) => {
      const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n') ?? '5');
      res.end(Buffer.alloc(n, 0x61));
    });
    peerHttp = peer.net.createServer((s) => site.emit('connection', s));
    peerHttp.listen({ port: 80, path: 'bypass' });
    await once(peerHttp, 'listening');
  });
  afterAll(() => {
    patches.uninstall();
    app.close();
    peer.close();
  });

  it('net.connect to a bypass flow gives a byway socket that carries data', async () => {
    const echo = peer.net.createServer((s) => s.pipe(s));
    echo.listen({ port: 7, path: 'bypass' });
    await once(echo, 'listening');
    const before = counters.tcpConnect.bypass;
    const s = net.connect(7, PEER);
    expect((s as unknown as { path: string }).path).toBe('bypass');
    expect(s).toBeInstanceOf(net.Socket); // as programs and libraries check
    await once(s, 'connect');
    s.end('ping over byway');
    let got = '';
    s.setEncoding('utf8').on('data', (d: string) => (got += d));
    await once(s, 'close');
    expect(got).toBe('ping over byway');
    expect(counters.tcpConnect.bypass).toBe(before + 1);
    echo.close();
  });

  it('loopback and a kernel rule stay in the kernel (a genuine net.Socket, path kernel)', async () => {
    const srv = net.createServer((s) => s.end('from the kernel'));
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    expect(srv.listening).toBe(true);
    const port = (srv.address() as net.AddressInfo).port;
    const kernelBefore = counters.tcpConnect.kernel;
    const s = net.createConnection({ port, host: '127.0.0.1' });
    expect(s).toBeInstanceOf(net.Socket);
    expect((s as unknown as { path: string }).path).toBe('kernel');
    let got = '';
    s.setEncoding('utf8').on('data', (d: string) => (got += d));
    await once(s, 'close');
    expect(got).toBe('from the kernel');
    expect(counters.tcpConnect.kernel).toBe(kernelBefore + 1);
    expect(counters.tcpListen.kernel).toBeGreaterThanOrEqual(1);
    // An IPv6 literal: the kernel's (byway's TCP is IPv4 only), whatever the rules say (default=bypass here).
    const srv6 = net.createServer((c) => c.end('from the kernel over IPv6'));
    srv6.listen(0, '::1');
    await once(srv6, 'listening');
    expect(srv6.address()).toMatchObject({ address: '::1', family: 'IPv6' }); // listening in the kernel
    const s6 = net.connect({ port: (srv6.address() as net.AddressInfo).port, host: '::1' });
    expect((s6 as unknown as { path: string }).path).toBe('kernel');
    let got6 = '';
    s6.setEncoding('utf8').on('data', (d: string) => (got6 += d));
    await once(s6, 'close');
    expect(got6).toBe('from the kernel over IPv6');
    await new Promise<void>((r) => srv6.close(() => r()));
    // tcp:9999=kernel: an address byway owns the subnet of, still sent to the kernel (and refused there: no route)
    const k = net.connect({ port: 9999, host: PEER });
    expect((k as unknown as { path: string }).path).toBe('kernel');
    k.on('error', () => {});
    k.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('http.get and fetch through the global agent take the bypass path', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`http://${PEER}/?n=100000`, resolve).on('error', reject));
    expect((res.socket as unknown as { path: string }).path).toBe('bypass');
    let n = 0;
    for await (const chunk of res) n += (chunk as Buffer).length;
    expect(n).toBe(100000);
    const before = counters.tcpConnect.bypass;
    const r = await fetch(`http://${PEER}/?n=300000`);
    expect((await r.arrayBuffer()).byteLength).toBe(300000);
    expect(counters.tcpConnect.bypass).toBeGreaterThan(before);
  });

  it('an http server listening on a bypass port takes byway connections; address, listening, close answer for it', async () => {
    const srv = http.createServer((req, res) => res.end(`hello ${(req.socket as unknown as { path: string }).path} ${req.socket instanceof net.Socket}`));
    srv.listen(8080);
    await once(srv, 'listening');
    expect(srv.listening).toBe(true);
    expect(srv.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 8080 });
    expect(patches.bypassListeners()).toContainEqual({ address: '0.0.0.0', port: 8080 });
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.get({ host: APP, port: 8080, path: '/', createConnection: () => peer.net.createConnection({ port: 8080, host: APP, path: 'bypass' }) as never }, (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(b));
      });
      req.on('error', reject);
    });
    expect(body).toBe('hello bypass true');
    expect(counters.tcpListen.bypass).toBe(1);
    expect(counters.tcpAccepted.bypass).toBe(1);
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
    expect(srv.listening).toBe(false);
    expect(patches.bypassListeners()).toEqual([]);
  });

  it('dgram: the path is chosen at bind/send by port; bypass and kernel sockets both work', async () => {
    const sock = dgram.createSocket('udp4');
    expect((sock as unknown as { path?: string }).path).toBeUndefined();
    sock.on('message', (msg, rinfo) => sock.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    sock.bind(5353);
    await once(sock, 'listening');
    expect((sock as unknown as { path: string }).path).toBe('bypass');
    expect(sock.address()).toMatchObject({ port: 5353 });
    const client = peer.dgram.createSocket({ type: 'udp4', path: 'bypass' });
    client.send('q', 5353, APP);
    const [reply] = await once<Buffer>(client as unknown as NodeJS.EventEmitter, 'message').then((m) => [m]);
    expect(String(reply)).toBe('echo:q');
    client.close();
    sock.close();
    // udp:53=kernel: a query to a DNS server on loopback port 53 would go to the kernel; any port on loopback too
    const k = dgram.createSocket('udp4');
    const kernelServer = orig.createSocket.call(dgram, { type: 'udp4' }) as dgram.Socket;
    kernelServer.bind(0, '127.0.0.1');
    await once(kernelServer, 'listening');
    const got = once<Buffer>(kernelServer, 'message');
    k.send('to the kernel', kernelServer.address().port, '127.0.0.1');
    expect(String(await got)).toBe('to the kernel');
    expect((k as unknown as { path: string }).path).toBe('kernel');
    expect(counters.udpSocket).toEqual({ bypass: 1, kernel: 1 });
    k.close();
    kernelServer.close();
  });

  it('dgram: a host name is resolved first and the path decided on its address, for send and connect', async () => {
    // kernel.test resolves to loopback (kernel), bypass.test to the peer (default=bypass); the rules match
    // addresses, so deciding on the name would send both the same way.
    const names: Record<string, string> = { 'kernel.test': '127.0.0.1', 'bypass.test': PEER };
    const asked: string[] = [];
    const lookup = (host: string, _o: unknown, cb: (err: Error | null, address: string, family: number) => void): void => {
      asked.push(host);
      const a = net.isIP(host) !== 0 ? host : names[host]; // node:dgram also looks up the literal it binds to
      setImmediate(() => (a ? cb(null, a, 4) : cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host }), '', 4)));
    };
    const before = { ...counters.udpSocket };
    const kernelServer = orig.createSocket.call(dgram, { type: 'udp4' }) as dgram.Socket;
    kernelServer.bind(0, '127.0.0.1');
    await once(kernelServer, 'listening');
    const peerServer = peer.dgram.createSocket({ type: 'udp4', path: 'bypass' });
    peerServer.bind(7000);
    await once(peerServer as unknown as NodeJS.EventEmitter, 'listening');

    const toKernel = dgram.createSocket({ type: 'udp4', lookup } as dgram.SocketOptions);
    const gotKernel = once<Buffer>(kernelServer, 'message');
    toKernel.send('by name to the kernel', kernelServer.address().port, 'kernel.test');
    toKernel.send('and a second one', kernelServer.address().port, 'kernel.test'); // queued behind the lookup
    expect(String(await gotKernel)).toBe('by name to the kernel');
    expect((toKernel as unknown as { path: string }).path).toBe('kernel');

    const toPeer = dgram.createSocket({ type: 'udp4', lookup } as dgram.SocketOptions);
    const gotPeer = once<Buffer>(peerServer as unknown as NodeJS.EventEmitter, 'message');
    toPeer.connect(7000, 'bypass.test', () => toPeer.send('by name to byway'));
    expect(String(await gotPeer)).toBe('by name to byway');
    expect((toPeer as unknown as { path: string }).path).toBe('bypass');
    expect(counters.udpSocket).toEqual({ bypass: before.bypass + 1, kernel: before.kernel + 1 });
    expect(asked).toContain('kernel.test');
    expect(asked).toContain('bypass.test');

    // The kernel socket keeps its path for a datagram the rules would give to byway: it is sent, and counted.
    await new Promise<void>((resolve) => toKernel.send('elsewhere', 7000, PEER, () => resolve()));
    expect(counters.udpOtherPath).toBe(1);
    expect(counters.lastOtherPath).toBe(`udp to ${PEER}:7000 sent on the socket's kernel path; the rules say bypass`);
    // A name that does not resolve: the send fails with the lookup's error, as node:dgram's does.
    const lost = dgram.createSocket({ type: 'udp4', lookup } as dgram.SocketOptions);
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => lost.send('x', 9, 'nowhere.test', (e) => resolve(e as NodeJS.ErrnoException)));
    expect(err.code).toBe('ENOTFOUND');
    for (const s of [toKernel, toPeer, lost, kernelServer]) s.close();
    peerServer.close();
  });

  it('TCP by host name: one lookup (the lookup option), then the path decided on the address; the lookup event as node:net', async () => {
    // kernel.test resolves to loopback (kernel), bypass.test to the peer (default=bypass): deciding on the name
    // would send both the same way.
    const names: Record<string, string> = { 'kernel.test': '127.0.0.1', 'bypass.test': PEER };
    const asked: Array<[string, unknown]> = [];
    const lookup = (host: string, o: { all?: boolean }, cb: (...a: unknown[]) => void): void => {
      asked.push([host, { ...o }]);
      const a = names[host];
      setImmediate(() => {
        if (a === undefined) cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host, syscall: 'getaddrinfo' }));
        else if (o.all) cb(null, [{ address: a, family: 4 }]);
        else cb(null, a, 4);
      });
    };
    const echo = peer.net.createServer((s) => s.pipe(s));
    echo.listen({ port: 7, path: 'bypass' });
    await once(echo, 'listening');
    const kernelServer = net.createServer((s) => s.end('from the kernel'));
    kernelServer.listen(0, '127.0.0.1');
    await once(kernelServer, 'listening');
    const kernelPort = (kernelServer.address() as net.AddressInfo).port;
    const before = { ...counters.tcpConnect };

    // net.connect: written before the name is resolved, held until connected, as node:net does.
    const s = net.connect({ host: 'bypass.test', port: 7, lookup } as net.NetConnectOpts);
    expect(s).toBeInstanceOf(net.Socket);
    expect((s as unknown as { path?: string }).path).toBeUndefined(); // not decided before the lookup
    const lookedUp = once<unknown[]>(s, 'lookup').then((...a) => a);
    s.end('by name over byway');
    let got = '';
    s.setEncoding('utf8').on('data', (d: string) => (got += d));
    await once(s, 'connect');
    expect((await lookedUp)[0]).toBe(null);
    expect((s as unknown as { path: string }).path).toBe('bypass');
    expect(s.remoteAddress).toBe(PEER);
    await once(s, 'close');
    expect(got).toBe('by name over byway');

    // new net.Socket().connect() to a name that resolves to loopback: node:net connects, with the answer had.
    const k = new net.Socket();
    const events: unknown[][] = [];
    k.on('lookup', (...a: unknown[]) => events.push(a));
    k.connect({ host: 'kernel.test', port: kernelPort, lookup } as net.SocketConnectOpts);
    let fromKernel = '';
    k.setEncoding('utf8').on('data', (d: string) => (fromKernel += d));
    await once(k, 'close');
    expect(fromKernel).toBe('from the kernel');
    expect((k as unknown as { path: string }).path).toBe('kernel');
    expect(events).toEqual([[null, '127.0.0.1', 4, 'kernel.test']]); // node:net's own event, once
    expect(counters.tcpConnect).toEqual({ bypass: before.bypass + 1, kernel: before.kernel + 1 });
    // One question per connect, asked as node:net asks (any family, ADDRCONFIG, all addresses: autoSelectFamily).
    expect(asked).toEqual([
      ['bypass.test', { family: undefined, hints: dns.ADDRCONFIG, all: true }],
      ['kernel.test', { family: undefined, hints: dns.ADDRCONFIG, all: true }],
    ]);

    // http.get passes its lookup option down to the agent's connect.
    const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get({ host: 'bypass.test', port: 80, path: '/?n=1000', lookup } as http.RequestOptions, resolve).on('error', reject),
    );
    expect((res.socket as unknown as { path: string }).path).toBe('bypass');
    let n = 0;
    for await (const chunk of res) n += (chunk as Buffer).length;
    expect(n).toBe(1000);

    // A name that does not resolve: 'lookup' with the error, then the resolver's error on the socket, uncounted.
    const failedBefore = counters.bypassFailures;
    const lost = net.connect({ host: 'nowhere.test', port: 7, lookup } as net.NetConnectOpts);
    const lookupErr = once<unknown>(lost, 'lookup');
    const err = await once<NodeJS.ErrnoException & { hostname?: string }>(lost, 'error');
    expect(await lookupErr).toBe(err);
    expect(err).toMatchObject({ code: 'ENOTFOUND', hostname: 'nowhere.test' });
    expect(counters.bypassFailures).toBe(failedBefore);
    echo.close();
    await new Promise<void>((r) => kernelServer.close(() => r()));
  });

  it('new net.Socket().connect() on a bypass flow: the genuine socket carries byway\'s bytes both ways', async () => {
    const peerSide: string[] = [];
    const srv = peer.net.createServer((s) => {
      s.setEncoding('utf8').on('data', (d: string) => peerSide.push(d));
      s.on('end', () => s.end(`got ${peerSide.join('').length} bytes from ${s.remoteAddress}`));
    });
    srv.listen({ port: 5432, path: 'bypass' });
    await once(srv, 'listening');
    const before = counters.tcpConnect.bypass;
    const s = new net.Socket();
    expect(s.connect(5432, PEER, () => s.emit('custom-connected'))).toBe(s);
    expect(s).toBeInstanceOf(net.Socket);
    expect((s as unknown as { path: string }).path).toBe('bypass');
    expect(s.connecting).toBe(true);
    s.write('x'.repeat(100_000)); // written while connecting: held until connected
    await once(s, 'custom-connected');
    expect(s.connecting).toBe(false);
    expect(s.remoteAddress).toBe(PEER);
    expect(s.remotePort).toBe(5432);
    expect(s.localAddress).toBe(APP);
    expect(s.setNoDelay(true)).toBe(s);
    s.end('y'.repeat(1000));
    let reply = '';
    s.setEncoding('utf8').on('data', (d: string) => (reply += d));
    const [hadError] = await once<boolean>(s, 'close').then((h) => [h]);
    expect(hadError).toBe(false);
    expect(reply).toBe(`got 101000 bytes from ${APP}`);
    expect(counters.tcpConnect.bypass).toBe(before + 1);
    srv.close();
  });

  it('new net.Socket().connect() to nobody: ECONNREFUSED on the program\'s socket, counted as a bypass failure', async () => {
    const before = counters.bypassFailures;
    const s = new net.Socket();
    s.connect({ port: 5433, host: PEER });
    const err = await once<NodeJS.ErrnoException>(s, 'error');
    expect(err.code).toBe('ECONNREFUSED');
    expect(counters.bypassFailures).toBe(before + 1);
    expect(failures.at(-1)).toMatch(/^tcp connect 10.0.0.2:5433: ECONNREFUSED/);
    await once(s, 'close');
  });

  it('an error after the connection was made is the connection\'s, not a bypass failure', async () => {
    const echo = peer.net.createServer((s) => s.pipe(s));
    echo.listen({ port: 8, path: 'bypass' });
    await once(echo, 'listening');
    const before = counters.bypassFailures;
    const s = net.connect(8, PEER);
    await once(s, 'connect');
    s.destroy(new Error('idle timeout, as undici says it'));
    const err = await once<Error>(s, 'error');
    expect(err.message).toBe('idle timeout, as undici says it');
    expect(counters.bypassFailures).toBe(before);
    echo.close();
  });

  it('a bypass connect that fails is counted with its reason, and still reaches the socket', async () => {
    const before = counters.bypassFailures;
    const s = net.connect(81, PEER); // nobody listens: the peer's stack answers RST
    const err = await once<NodeJS.ErrnoException>(s, 'error');
    expect(err.code).toBe('ECONNREFUSED');
    expect(counters.bypassFailures).toBe(before + 1);
    expect(counters.lastFailure).toMatch(/^tcp connect 10.0.0.2:81: ECONNREFUSED/);
  });

  describeWithTools('tls (openssl makes the test certificate)', ['openssl'], () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-tls-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    it('tls.connect and https.get run TLS over a byway socket', async () => {
      const { key, cert } = selfSigned(dir, 'peer.test');
      const site = https.createServer({ key, cert }, (_req, res) => res.end('secret'));
      const front = peer.net.createServer((s) => site.emit('connection', s));
      front.listen({ port: 443, path: 'bypass' });
      await once(front, 'listening');
      const t = tls.connect({ host: PEER, port: 443, ca: cert, servername: 'peer.test' });
      expect((t as unknown as { path: string }).path).toBe('bypass');
      await once(t, 'secureConnect');
      expect(t.authorized).toBe(true);
      t.end('GET / HTTP/1.0\r\n\r\n');
      let got = '';
      t.setEncoding('utf8').on('data', (d: string) => (got += d));
      await once(t, 'close');
      expect(got).toMatch(/secret$/);
      const body = await new Promise<string>((resolve, reject) =>
        https.get({ host: PEER, path: '/', ca: cert, servername: 'peer.test' }, (res) => {
          let b = '';
          res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(b));
        }).on('error', reject),
      );
      expect(body).toBe('secret');
      expect(counters.tlsConnect.bypass).toBe(2);
      // By host name: the path is decided once the name is resolved; the lookup event reaches the TLS socket.
      const lookup = (_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void): void =>
        void setImmediate(() => (o.all ? cb(null, [{ address: PEER, family: 4 }]) : cb(null, PEER, 4)));
      const byName = tls.connect({ host: 'peer.test', port: 443, ca: cert, servername: 'peer.test', lookup } as tls.ConnectionOptions);
      const lookedUp = once<unknown>(byName, 'lookup');
      await once(byName, 'secureConnect');
      expect(await lookedUp).toBe(null);
      expect((byName as unknown as { path: string }).path).toBe('bypass');
      expect(byName.authorized).toBe(true);
      byName.end('GET / HTTP/1.0\r\n\r\n');
      let again = '';
      byName.setEncoding('utf8').on('data', (d: string) => (again += d));
      await once(byName, 'close');
      expect(again).toMatch(/secret$/);
      expect(counters.tlsConnect.bypass).toBe(3);
      // A name with two addresses, the first answering nobody: node:net's attempts, then TLS over the second.
      const two = (_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void): void =>
        void setImmediate(() => (o.all ? cb(null, [{ address: '10.0.0.77', family: 4 }, { address: PEER, family: 4 }]) : cb(null, '10.0.0.77', 4)));
      const second = tls.connect({ host: 'peer.test', port: 443, ca: cert, servername: 'peer.test', lookup: two, autoSelectFamilyAttemptTimeout: 20 } as tls.ConnectionOptions);
      await once(second, 'secureConnect');
      expect((second as unknown as { path: string }).path).toBe('bypass');
      // The addresses of a TLS socket over byway, as node:tls gives them over a kernel socket.
      for (const s of [second, byName, t]) expect([s.remoteAddress, s.remotePort, s.remoteFamily, s.localAddress]).toEqual([PEER, 443, 'IPv4', APP]);
      second.destroy();
      expect(counters.tlsConnect.bypass).toBe(4);
      front.close();
    });
  });

  it('uninstall puts every patched function back', () => {
    const p = installPatches(app, () => 'bypass', newPathCounters(), () => {});
    expect(net.connect).not.toBe(orig.connect);
    p.uninstall();
    // the outer install is still in place: what the inner install saw is what it restores
    expect(net.Server.prototype.listen).not.toBe(orig.listen);
    patches.uninstall();
    expect(net.connect).toBe(orig.connect);
    expect(dgram.createSocket).toBe(orig.createSocket);
    expect(tls.connect).toBe(orig.tlsConnect);
    expect(net.Server.prototype.listen).toBe(orig.listen);
    expect(http.Agent.prototype.createConnection).toBe(orig.connect);
    patches = { uninstall() {}, bypassListeners: () => [] };
  });
});
