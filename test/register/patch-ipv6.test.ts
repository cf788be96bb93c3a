/**
 * The preload's patches on a stack with IPv6 (what `af-xdp:IFNAME:shared:ipv6` gives `byway run`), over an
 * in-memory link to a second dual-stack byway stack: an IPv6 literal given to net.connect, and a udp6 socket, take
 * the path the rules choose (byway's here, default=bypass), where on a stack without IPv6 they take the kernel
 * (test/register/patch.test.ts); ::1 stays in the kernel, as 127.0.0.0/8 does.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { compileStrategy } from '../../src/api/path.js';
import { parsePathRules, IMPLICIT_RULES } from '../../src/register/config.js';
import { installPatches, type Patches } from '../../src/register/patch.js';
import { newPathCounters } from '../../src/register/counters.js';
import { seededRng } from '../../protocols/util/rng.js';

const PEER6 = 'fd00::2';
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
});
