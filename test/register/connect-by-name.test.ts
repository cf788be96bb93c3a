/**
 * The preload's connect by name beyond one address (issue #15): 'localhost' and a connect with no host are looked
 * up as node:net looks them up, then decided on the answer; a bypass connect to a name with several addresses
 * tries them in node:net's order, one at a time with the attempt timeout, with node:net's events, and fails as
 * node:net fails when all fail (an AggregateError whose code is the first error's). The failing case is compared
 * with node:net's own on the kernel path (loopback addresses, which the implicit rule keeps in the kernel).
 */
import net from 'node:net';
import dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { compileStrategy } from '../../src/api/path.js';
import { parsePathRules, IMPLICIT_RULES } from '../../src/register/config.js';
import { installPatches, type Patches } from '../../src/register/patch.js';
import { newPathCounters } from '../../src/register/counters.js';
import { attemptOrder } from '../../src/api/auto-select.js';
import { seededRng } from '../../protocols/util/rng.js';
import { cannedLookup, record, type Entry } from '../helpers/connect-by-name.js';

const APP = '10.0.0.1';
const PEER = '10.0.0.2';
const PEER2 = '10.0.0.3';
const NOBODY = '10.0.0.77'; // no stack answers ARP for it: a connect there never completes
const once = <T = unknown>(em: NodeJS.EventEmitter, ev: string): Promise<T> => new Promise((res) => em.once(ev, res as (v: unknown) => void));


describe('preload: connect and listen by name, node:net style (in-memory link)', () => {
  let app: Stack;
  let peer: Stack;
  let patches: Patches;
  const counters = newPathCounters();
  const failures: string[] = [];

  beforeAll(async () => {
    const [a, b] = memoryLink();
    app = createStack({ driver: a, address: `${APP}/24`, rng: seededRng(1) });
    peer = createStack({ driver: b, address: [`${PEER}/24`, `${PEER2}/24`], rng: seededRng(2) });
    const rules = parsePathRules('default=bypass');
    patches = installPatches(app, compileStrategy({ rules: [...rules.rules, ...IMPLICIT_RULES], default: rules.default }), counters, (w) => failures.push(w));
    const echo = peer.net.createServer((s) => s.pipe(s));
    echo.listen({ port: 7, path: 'bypass' });
    await once(echo, 'listening');
  });
  afterAll(() => {
    patches.uninstall();
    app.close();
    peer.close();
  });

  it('attemptOrder: the first address\'s family first, then alternating, each address once (lookupAndConnectMultiple)', () => {
    const a = (address: string, family: number): Entry => ({ address, family });
    expect(attemptOrder([a('fd00::1', 6), a('10.0.0.1', 4), a('10.0.0.2', 4), a('fd00::1', 6), a('fd00::2', 6), a('x', 4), a('10.0.0.3', 5)])).toEqual([
      a('fd00::1', 6), a('10.0.0.1', 4), a('fd00::2', 6), a('10.0.0.2', 4),
    ]);
    expect(attemptOrder([a('10.0.0.1', 4), a('fd00::1', 6)])).toEqual([a('10.0.0.1', 4), a('fd00::1', 6)]);
  });

  it("'localhost' and no host at all are looked up with node:net's options, then decided on the answer", async () => {
    const asked: unknown[][] = [];
    // A hosts file may map localhost anywhere: the answer decides, not the name.
    const lookup = cannedLookup([{ address: PEER, family: 4 }], asked);
    const s = net.connect({ host: 'localhost', port: 7, lookup } as net.NetConnectOpts);
    const events = record(s);
    await once(s, 'connect');
    expect((s as unknown as { path: string }).path).toBe('bypass');
    expect(s.remoteAddress).toBe(PEER);
    s.destroy();
    const t = net.connect({ port: 7, lookup } as net.NetConnectOpts);
    await once(t, 'connect');
    expect((t as unknown as { path: string }).path).toBe('bypass');
    t.destroy();
    expect(asked).toEqual([
      ['localhost', { family: undefined, hints: dns.ADDRCONFIG, all: true }],
      ['localhost', { family: undefined, hints: dns.ADDRCONFIG, all: true }],
    ]);
    expect(events).toEqual([['lookup', null, PEER, 4, 'localhost'], ['connectionAttempt', PEER, 7, 4], ['connect']]);

    // The default lookup (dns.lookup, the system resolver) answers loopback: node:net connects in the kernel,
    // trying what it answered (::1 too where the resolver gives it), with one question asked.
    const srv = net.createServer((c) => c.end('kernel'));
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const spy = vi.spyOn(dns, 'lookup');
    try {
      const k = net.connect((srv.address() as net.AddressInfo).port);
      let got = '';
      k.setEncoding('utf8').on('data', (d: string) => (got += d));
      await once(k, 'close');
      expect(got).toBe('kernel');
      expect((k as unknown as { path: string }).path).toBe('kernel');
      expect(spy.mock.calls.map((c) => [c[0], c[1]])).toEqual([['localhost', { family: undefined, hints: dns.ADDRCONFIG, all: true }]]);
    } finally {
      spy.mockRestore();
      srv.close();
    }
  });

  it('several addresses: tried in turn with the attempt timeout, as node:net does; the first that connects carries the bytes', async () => {
    const asked: unknown[][] = [];
    const answer = [{ address: 'fd00::9', family: 6 }, { address: NOBODY, family: 4 }, { address: PEER, family: 4 }];
    const before = counters.tcpConnect.bypass;
    const s = net.connect({ host: 'multi.test', port: 7, lookup: cannedLookup(answer, asked), autoSelectFamilyAttemptTimeout: 20 } as net.NetConnectOpts);
    const events = record(s);
    s.end('through the second address');
    let got = '';
    s.setEncoding('utf8').on('data', (d: string) => (got += d));
    await once(s, 'close');
    expect(got).toBe('through the second address');
    expect((s as unknown as { path: string }).path).toBe('bypass');
    // Every address of the answer is reported; the IPv6 one is not tried on byway's (IPv4) path.
    expect(events).toEqual([
      ['lookup', null, 'fd00::9', 6, 'multi.test'],
      ['lookup', null, NOBODY, 4, 'multi.test'],
      ['lookup', null, PEER, 4, 'multi.test'],
      ['connectionAttempt', NOBODY, 7, 4],
      ['connectionAttemptTimeout', NOBODY, 7, 4],
      ['connectionAttempt', PEER, 7, 4],
      ['connect'],
    ]);
    expect((s as unknown as { autoSelectFamilyAttemptedAddresses: string[] }).autoSelectFamilyAttemptedAddresses).toEqual([`${NOBODY}:7`, `${PEER}:7`]);
    expect(counters.tcpConnect.bypass).toBe(before + 1);

    // autoSelectFamily off: node:net asks for one address and tries only it.
    const one: unknown[][] = [];
    const t = net.connect({ host: 'multi.test', port: 7, lookup: cannedLookup([{ address: PEER, family: 4 }, { address: NOBODY, family: 4 }], one), autoSelectFamily: false } as net.NetConnectOpts);
    await once(t, 'connect');
    expect(t.remoteAddress).toBe(PEER);
    expect(one).toEqual([['multi.test', { family: undefined, hints: dns.ADDRCONFIG }]]);
    t.destroy();
  });

  it('all addresses fail: an AggregateError of each attempt\'s error, code the first\'s, shaped as node:net\'s on the kernel path', async () => {
    const failedBefore = counters.bypassFailures;
    const failOver = async (answer: Entry[], port: number): Promise<{ err: AggregateError & { code?: string }; events: unknown[][]; path: unknown }> => {
      const s = net.connect({ host: 'down.test', port, lookup: cannedLookup(answer, []), autoSelectFamilyAttemptTimeout: 20 } as net.NetConnectOpts);
      const events = record(s);
      const closed = once<unknown>(s, 'close');
      const err = await once<AggregateError & { code?: string }>(s, 'error');
      expect(await closed).toBe(true); // hadError
      return { err, events, path: (s as unknown as { path: unknown }).path };
    };
    const shape = (e: AggregateError & { code?: string }) => ({
      isAggregate: e instanceof AggregateError,
      name: e.name,
      message: e.message,
      code: e.code,
      errors: e.errors.map((x: NodeJS.ErrnoException & { address?: string; port?: number }) => ({ code: x.code, errno: x.errno, syscall: x.syscall, message: x.message.replace(/[\d.]+:\d+$/, 'ADDR'), isError: x instanceof Error })),
    });

    // Both refused (no listener on port 9 at either of the peer's addresses).
    const byway = await failOver([{ address: PEER, family: 4 }, { address: PEER2, family: 4 }], 9);
    expect(byway.path).toBe('bypass');
    expect(byway.events.slice(2)).toEqual([
      ['connectionAttempt', PEER, 9, 4],
      ['connectionAttemptFailed', PEER, 9, 4, 'ECONNREFUSED'],
      ['connectionAttempt', PEER2, 9, 4],
      ['connectionAttemptFailed', PEER2, 9, 4, 'ECONNREFUSED'],
    ]);
    // node:net itself, in the kernel (loopback: the implicit rule), refused at two addresses
    const spare = net.createServer();
    spare.listen(0, '127.0.0.1');
    await once(spare, 'listening');
    const freePort = (spare.address() as net.AddressInfo).port;
    await new Promise<void>((r) => spare.close(() => r()));
    const kernel = await failOver([{ address: '127.0.0.2', family: 4 }, { address: '127.0.0.3', family: 4 }], freePort);
    expect(kernel.path).toBe('kernel');
    expect(shape(byway.err)).toEqual(shape(kernel.err));
    expect(shape(byway.err)).toMatchObject({ isAggregate: true, name: 'AggregateError', message: '', code: 'ECONNREFUSED' });
    expect(byway.err.errors.map((e: { address?: string; port?: number }) => [e.address, e.port])).toEqual([[PEER, 9], [PEER2, 9]]);

    // A timed-out attempt is an ETIMEDOUT of node:net's form, and its code leads when it came first.
    const timedOut = await failOver([{ address: NOBODY, family: 4 }, { address: PEER, family: 4 }], 9);
    expect(timedOut.err.code).toBe('ETIMEDOUT');
    expect(timedOut.err.errors.map((e: Error) => e.message)).toEqual([`connect ETIMEDOUT ${NOBODY}:9`, `connect ECONNREFUSED ${PEER}:9`]);
    expect(timedOut.events.filter((e) => e[0] === 'connectionAttemptTimeout')).toEqual([['connectionAttemptTimeout', NOBODY, 9, 4]]);
    // Counted once per connect, with every attempt's reason.
    expect(counters.bypassFailures).toBe(failedBefore + 2);
    expect(failures.at(-1)).toBe(`tcp connect ${NOBODY}:9, ${PEER}:9: ETIMEDOUT connect ETIMEDOUT ${NOBODY}:9; connect ECONNREFUSED ${PEER}:9`);
  });

  it("listen on a name ('localhost' too): on the address dns.lookup answers, as node:net listens; the path decided on it", async () => {
    const spy = vi.spyOn(dns, 'lookup').mockImplementation(((host: string, cb: (...a: unknown[]) => void) => {
      // This hosts file maps localhost to the app's byway address; anything else does not resolve.
      setImmediate(() => (host === 'localhost' ? cb(null, APP, 4) : cb(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', hostname: host }))));
    }) as never);
    try {
      const before = { ...counters.tcpListen };
      const srv = net.createServer((c) => c.end('on byway'));
      expect(srv.listen(8085, 'localhost')).toBe(srv);
      await once(srv, 'listening');
      expect(srv.address()).toMatchObject({ address: APP, port: 8085 });
      expect(counters.tcpListen).toEqual({ bypass: before.bypass + 1, kernel: before.kernel });
      const c = peer.net.createConnection({ port: 8085, host: APP, path: 'bypass' });
      let got = '';
      c.setEncoding('utf8').on('data', (d: string) => (got += d));
      await once(c, 'close');
      expect(got).toBe('on byway');
      srv.close();
      expect(spy.mock.calls.map((call) => call[0])).toEqual(['localhost']);

      const lost = net.createServer();
      lost.listen({ port: 8086, host: 'nowhere.test' });
      expect(await once(lost, 'error')).toMatchObject({ code: 'ENOTFOUND', hostname: 'nowhere.test' });
      expect(lost.listening).toBe(false);
      expect(counters.tcpListen).toEqual({ bypass: before.bypass + 1, kernel: before.kernel });
    } finally {
      spy.mockRestore();
    }
  });

  it('the program destroys its socket between attempts: nothing more is tried', async () => {
    const s = net.connect({ host: 'slow.test', port: 7, lookup: cannedLookup([{ address: NOBODY, family: 4 }, { address: PEER, family: 4 }], []), autoSelectFamilyAttemptTimeout: 20 } as net.NetConnectOpts);
    const events = record(s);
    await once(s, 'connectionAttempt');
    s.destroy();
    await once(s, 'close');
    await new Promise((r) => setTimeout(r, 60)); // past the attempt timeout: the next attempt must not start
    expect(events.map((e) => e[0])).toEqual(['lookup', 'lookup', 'connectionAttempt']);
  });
});
