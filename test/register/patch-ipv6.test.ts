/**
 * The preload's patches on a stack with IPv6 (what `af-xdp:IFNAME:shared:ipv6` gives `byway run`), over an
 * in-memory link to a second dual-stack byway stack: an IPv6 literal given to net.connect, and a udp6 socket, take
 * the path the rules choose (byway's here, default=bypass), where on a stack without IPv6 they take the kernel
 * (test/register/patch.test.ts); ::1 stays in the kernel, as 127.0.0.0/8 does. A host name is decided on the first
 * address of its answer, in node:net's order, that the stack carries (IPv6 ones too here), and tried on byway's path
 * as node:net tries it (connect-by-name.ts); TLS sockets over byway answer their IPv6 addresses as node:tls does.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import dns from 'node:dns';
import tls from 'node:tls';
import https from 'node:https';
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
import { cannedLookup, record, selfSigned } from '../helpers/connect-by-name.js';

const PEER6 = 'fd00::2';
const APP6 = 'fd00::1';
const NOBODY6 = 'fd00::77'; // no stack answers NDP for it: a connect there never completes

const once = <T = unknown>(em: NodeJS.EventEmitter, ev: string): Promise<T> => new Promise((res) => em.once(ev, res as (v: unknown) => void));
const pathOf = (s: unknown): string | undefined => (s as { path?: string }).path;

describe('preload patches on a stack with IPv6 (in-memory link)', () => {
  let app: Stack;
  let peer: Stack;
  let patches: Patches;
  const counters = newPathCounters();

  beforeAll(async () => {
    const [a, b] = memoryLink();
    const quick = { dad: { dupAddrDetectTransmits: 0 } };
    app = createStack({ driver: a, address: ['10.0.0.1/24', 'fd00::1/64'], ipv6: quick, rng: seededRng(1) });
    peer = createStack({ driver: b, address: ['10.0.0.2/24', `${PEER6}/64`], ipv6: quick, rng: seededRng(2) });
    await Promise.all([app.ready(), peer.ready()]);
    const rules = parsePathRules('default=bypass');
    patches = installPatches(app, compileStrategy({ rules: [...rules.rules, ...IMPLICIT_RULES], default: rules.default }), counters, () => {});
  });
  afterAll(() => {
    patches.uninstall();
    app.close();
    peer.close();
  });

  it('net.connect to an IPv6 literal takes byway\'s path and carries data; ::1 stays in the kernel', async () => {
    const echo = peer.net.createServer((s) => s.pipe(s)).listen(7, '::');
    await once(echo, 'listening');
    const s = net.connect(7, PEER6);
    expect(pathOf(s)).toBe('bypass');
    await once(s, 'connect');
    expect(s.remoteAddress).toBe(PEER6);
    s.end('ping over IPv6');
    let got = '';
    s.setEncoding('utf8').on('data', (d: string) => (got += d));
    await once(s, 'close');
    expect(got).toBe('ping over IPv6');
    expect(counters.tcpConnect).toEqual({ bypass: 1, kernel: 0 });
    echo.close();

    const srv = net.createServer((c) => c.end('from the kernel over ::1'));
    srv.listen(0, '::1');
    await once(srv, 'listening');
    expect(srv.address()).toMatchObject({ address: '::1', family: 'IPv6' }); // the kernel's listener
    const k = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '0:0:0:0:0:0:0:1' });
    expect(pathOf(k)).toBe('kernel');
    let fromKernel = '';
    k.setEncoding('utf8').on('data', (d: string) => (fromKernel += d));
    await once(k, 'close');
    expect(fromKernel).toBe('from the kernel over ::1');
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('a udp6 socket takes byway\'s path: bound beside a udp4 socket on the same port (ipv6Only), it exchanges datagrams', async () => {
    const peerSock = peer.dgram.createSocket('udp6');
    peerSock.on('message', (m, from) => peerSock.send(`re ${m.toString()}`, from.port, from.address));
    peerSock.bind(9000);
    await once(peerSock, 'listening');
    const u4 = dgram.createSocket('udp4');
    u4.bind(9001);
    await once(u4, 'listening');
    const u6 = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    u6.bind(9001);
    await once(u6, 'listening');
    expect([pathOf(u4), pathOf(u6)]).toEqual(['bypass', 'bypass']);
    expect(u6.address()).toMatchObject({ address: '::', family: 'IPv6', port: 9001 });
    const answer = once<Buffer>(u6, 'message');
    u6.send('hello', 9000, PEER6);
    expect((await answer).toString()).toBe('re hello');
    expect(counters.udpSocket).toEqual({ bypass: 2, kernel: 0 });
    u4.close();
    u6.close();
    peerSock.close();
  });

  describe('connect by name', () => {
    let echo: ReturnType<Stack['net']['createServer']>;
    beforeAll(async () => {
      echo = peer.net.createServer((s) => s.pipe(s)).listen(7, '::');
      await once(echo, 'listening');
    });
    afterAll(() => void echo.close());

    it('a name answering an IPv6 address only takes byway\'s path, with node:net\'s events and IPv6 names', async () => {
      const before = { ...counters.tcpConnect };
      const asked: unknown[][] = [];
      const s = net.connect({ host: 'v6only.test', port: 7, lookup: cannedLookup([{ address: PEER6, family: 6 }], asked) } as net.NetConnectOpts);
      const events = record(s);
      expect(pathOf(s)).toBe(undefined); // decided once the name is resolved
      await once(s, 'connect');
      expect(pathOf(s)).toBe('bypass');
      expect(asked).toEqual([['v6only.test', { family: undefined, hints: dns.ADDRCONFIG, all: true }]]);
      expect(events).toEqual([['lookup', null, PEER6, 6, 'v6only.test'], ['connectionAttempt', PEER6, 7, 6], ['connect']]);
      expect([s.remoteAddress, s.remotePort, s.remoteFamily, s.localAddress]).toEqual([PEER6, 7, 'IPv6', APP6]);
      expect(s.address()).toMatchObject({ address: APP6, family: 'IPv6' });
      s.end('by name over IPv6');
      let got = '';
      s.setEncoding('utf8').on('data', (d: string) => (got += d));
      await once(s, 'close');
      expect(got).toBe('by name over IPv6');
      expect(counters.tcpConnect).toEqual({ bypass: before.bypass + 1, kernel: before.kernel });

      // family: 6 (and a genuine `new net.Socket()`, as pg makes): node:net asks for one IPv6 address.
      const one: unknown[][] = [];
      const t = new net.Socket().connect({ host: 'v6only.test', port: 7, family: 6, lookup: cannedLookup([{ address: PEER6, family: 6 }], one) } as net.SocketConnectOpts);
      await once(t, 'connect');
      expect([pathOf(t), t.remoteAddress, t.remoteFamily]).toEqual(['bypass', PEER6, 'IPv6']);
      expect(one).toEqual([['v6only.test', { family: 6, hints: 0 }]]);
      t.destroy();
    });

    it('an answer with IPv6 first: tried in node:net\'s order on byway\'s path, the unanswered IPv6 address timing out before IPv4', async () => {
      const answer = [{ address: NOBODY6, family: 6 }, { address: '10.0.0.2', family: 4 }, { address: PEER6, family: 6 }];
      const s = net.connect({ host: 'dual.test', port: 7, lookup: cannedLookup(answer), autoSelectFamilyAttemptTimeout: 20 } as net.NetConnectOpts);
      const events = record(s);
      await once(s, 'connect');
      expect(pathOf(s)).toBe('bypass');
      expect(events).toEqual([
        ['lookup', null, NOBODY6, 6, 'dual.test'],
        ['lookup', null, '10.0.0.2', 4, 'dual.test'],
        ['lookup', null, PEER6, 6, 'dual.test'],
        ['connectionAttempt', NOBODY6, 7, 6],
        ['connectionAttemptTimeout', NOBODY6, 7, 6],
        ['connectionAttempt', '10.0.0.2', 7, 4],
        ['connect'],
      ]);
      expect((s as unknown as { autoSelectFamilyAttemptedAddresses: string[] }).autoSelectFamilyAttemptedAddresses).toEqual([`${NOBODY6}:7`, '10.0.0.2:7']);
      expect([s.remoteAddress, s.remoteFamily]).toEqual(['10.0.0.2', 'IPv4']);
      s.destroy();
    });

    it('::1 first (a localhost answer) stays in the kernel: node:net connects with the answer already had', async () => {
      const srv = net.createServer((c) => c.end('kernel over ::1'));
      srv.listen(0, '::1');
      await once(srv, 'listening');
      const asked: unknown[][] = [];
      const k = net.connect({ host: 'loop.test', port: (srv.address() as net.AddressInfo).port, lookup: cannedLookup([{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }], asked) } as net.NetConnectOpts);
      let got = '';
      k.setEncoding('utf8').on('data', (d: string) => (got += d));
      await once(k, 'close');
      expect([pathOf(k), got, asked.length]).toEqual(['kernel', 'kernel over ::1', 1]);
      await new Promise<void>((r) => srv.close(() => r()));
    });
  });

  describeWithTools('tls over IPv6 (openssl makes the test certificate)', ['openssl'], () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-tls6-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    it('tls.connect to an IPv6 literal and to a name answering IPv6: the TLS socket answers IPv6 names, as node:tls does', async () => {
      const { key, cert } = selfSigned(dir, 'peer.test');
      const site = https.createServer({ key, cert }, (_req, res) => res.end('secret'));
      const front = peer.net.createServer((s) => site.emit('connection', s));
      front.listen({ port: 443, host: '::', path: 'bypass' });
      await once(front, 'listening');
      const literal = { host: PEER6, port: 443, ca: cert, servername: 'peer.test' };
      const byName = { host: 'peer.test', port: 443, ca: cert, servername: 'peer.test', lookup: cannedLookup([{ address: PEER6, family: 6 }]) };
      for (const o of [literal, byName]) {
        const t = tls.connect(o as tls.ConnectionOptions);
        await once(t, 'secureConnect');
        expect([pathOf(t), t.authorized]).toEqual(['bypass', true]);
        expect([t.remoteAddress, t.remotePort, t.remoteFamily, t.localAddress]).toEqual([PEER6, 443, 'IPv6', APP6]);
        expect(t.address()).toMatchObject({ address: APP6, family: 'IPv6' });
        t.end('GET / HTTP/1.0\r\n\r\n');
        let got = '';
        t.setEncoding('utf8').on('data', (d: string) => (got += d));
        await once(t, 'close');
        expect(got).toMatch(/secret$/);
      }
      front.close();
    });
  });
});
