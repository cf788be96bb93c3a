/**
 * stack.net's connect to a name that resolves to both families, against node:net's own (Node 20, lib/net.js:
 * lookupAndConnectMultiple, internalConnectMultiple): the same scenario runs with node:net on loopback (::1 and
 * 127.0.0.1) and with byway between two dual-stack stacks on a memory link (fd00::2 and 10.0.0.2); the events, their
 * arguments, `autoSelectFamilyAttemptedAddresses` and the errors must have the same shapes, addresses aside.
 */
import net from 'node:net';
import dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { seededRng } from '../../protocols/util/rng.js';
import { once } from './harness.js';

type Entry = { address: string; family: number };
type Connect = (o: Record<string, unknown>) => net.Socket;

/** A lookup answering `answer` in node:net's two forms, recording the options it was asked with. */
function canned(answer: Entry[], asked: unknown[]) {
  return (_host: string, o: { all?: boolean }, cb: (...a: unknown[]) => void): void => {
    asked.push({ ...o });
    setImmediate(() => (o.all ? cb(null, answer) : cb(null, answer[0]!.address, answer[0]!.family)));
  };
}

/** Every connect event, with addresses replaced by their role (so node:net's and byway's compare). */
function record(s: net.Socket, roles: Record<string, string>, port?: number): unknown[][] {
  const events: unknown[][] = [];
  const show = (x: unknown): unknown => {
    if (x instanceof Error) {
      const e = x as NodeJS.ErrnoException & { address?: string; port?: number };
      return { code: e.code, syscall: e.syscall, address: roles[e.address!] ?? e.address, message: e.message.replace(e.address!, roles[e.address!]!).replace(/:\d+$/, ':PORT') };
    }
    if (typeof x === 'string') return roles[x] ?? x;
    return port !== undefined && x === port ? 'PORT' : x;
  };
  for (const ev of ['lookup', 'connectionAttempt', 'connectionAttemptFailed', 'connectionAttemptTimeout', 'connect', 'error']) {
    s.on(ev, (...a: unknown[]) => events.push([ev, ...a.map(show)]));
  }
  return events;
}

const settle = (s: net.Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));
const ports = (list: unknown, port: number): unknown => (list as string[] | undefined)?.map((x) => x.replace(`:${port}`, ':PORT'));

describe('stack.net autoSelectFamily, as node:net', () => {
  let a: Stack;
  let b: Stack;
  let v4only: Stack;
  let kernelServer: net.Server;
  let kernelPort = 0;
  let kernelClosed = 0;
  const BYWAY_PORT = 7010;
  const CLOSED = 7011;
  const byway = { V6: 'fd00::2', V4: '10.0.0.2' };
  const loop = { V6: '::1', V4: '127.0.0.1' };
  const roles = { 'fd00::2': 'V6', '10.0.0.2': 'V4', '::1': 'V6', '127.0.0.1': 'V4', 'fd00::99': 'SILENT' };

  beforeAll(async () => {
    const [da, db] = memoryLink();
    const quick = { dad: { dupAddrDetectTransmits: 0 } };
    a = createStack({ driver: da, address: ['10.0.0.1/24', 'fd00::1/64'], ipv6: quick, rng: seededRng(1) });
    b = createStack({ driver: db, address: ['10.0.0.2/24', 'fd00::2/64'], ipv6: quick, rng: seededRng(2) });
    await Promise.all([a.ready(), b.ready()]);
    const srv = b.net.createServer((s) => s.end('hi')).listen(BYWAY_PORT, '::');
    await once(srv, 'listening');
    const [dc, dd] = memoryLink();
    v4only = createStack({ driver: dc, address: '10.0.0.1/24', rng: seededRng(3) });
    const other = createStack({ driver: dd, address: '10.0.0.2/24', rng: seededRng(4) });
    const srv4 = other.net.createServer((s) => s.end('hi')).listen(BYWAY_PORT);
    await once(srv4, 'listening');
    kernelServer = net.createServer((s) => s.end('hi')).listen(0, '::');
    await once(kernelServer, 'listening');
    kernelPort = (kernelServer.address() as net.AddressInfo).port;
    const probe = net.createServer().listen(0, '::'); // a port nobody listens on once closed
    await once(probe, 'listening');
    kernelClosed = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    return () => other.close();
  });
  afterAll(() => {
    a.close();
    b.close();
    v4only.close();
    kernelServer.close();
  });

  /** Connect to a name answering [V6, V4] on both paths; the recorded events, socket and asked options. */
  async function both(port: { kernel: number; byway: number }, extra: Record<string, unknown> = {}) {
    const out: Record<string, { events: unknown[][]; sock: net.Socket; asked: unknown[] }> = {};
    for (const [name, connect, addr] of [
      ['kernel', net.createConnection as unknown as Connect, loop],
      ['bypass', a.net.createConnection as unknown as Connect, byway],
    ] as const) {
      const asked: unknown[] = [];
      const lookup = canned([{ address: addr.V6, family: 6 }, { address: addr.V4, family: 4 }], asked);
      const p = name === 'kernel' ? port.kernel : port.byway;
      const sock = connect({ host: 'dual.test', port: p, lookup, ...extra });
      const events = record(sock, roles, p);
      sock.on('error', () => {});
      sock.resume();
      await settle(sock);
      out[name] = { events, sock, asked };
    }
    return out as Record<'kernel' | 'bypass', { events: unknown[][]; sock: net.Socket; asked: unknown[] }>;
  }

  it('both families answer: the lookup is asked for every address (all, ADDRCONFIG), the first family is tried and connects', async () => {
    const r = await both({ kernel: kernelPort, byway: BYWAY_PORT });
    expect(r.bypass.events).toEqual(r.kernel.events);
    expect(r.bypass.events).toEqual([
      ['lookup', null, 'V6', 6, 'dual.test'],
      ['lookup', null, 'V4', 4, 'dual.test'],
      ['connectionAttempt', 'V6', 'PORT', 6],
      ['connect'],
    ]);
    expect(r.bypass.asked).toEqual(r.kernel.asked);
    expect(r.bypass.asked).toEqual([{ family: undefined, hints: dns.ADDRCONFIG, all: true }]);
    expect(ports((r.bypass.sock as net.Socket & { autoSelectFamilyAttemptedAddresses?: string[] }).autoSelectFamilyAttemptedAddresses, BYWAY_PORT)).toEqual(['fd00::2:PORT']);
    expect((r.kernel.sock as net.Socket & { autoSelectFamilyAttemptedAddresses?: string[] }).autoSelectFamilyAttemptedAddresses).toEqual([`::1:${kernelPort}`]);
    expect(r.bypass.sock.remoteFamily).toBe('IPv6');
  });

  it('all refused: each attempt fails in turn, then an AggregateError of their errors, code the first one\'s', async () => {
    const r = await both({ kernel: kernelClosed, byway: CLOSED });
    expect(r.bypass.events).toEqual(r.kernel.events);
    expect(r.bypass.events.map((e) => e[0])).toEqual(['lookup', 'lookup', 'connectionAttempt', 'connectionAttemptFailed', 'connectionAttempt', 'connectionAttemptFailed', 'error']);
    const failed = r.bypass.events[3]!;
    expect(failed).toEqual(['connectionAttemptFailed', 'V6', 'PORT', 6, { code: 'ECONNREFUSED', syscall: 'connect', address: 'V6', message: 'connect ECONNREFUSED V6:PORT' }]);
    const errs = await Promise.all(
      (['kernel', 'bypass'] as const).map(async (k) => {
        const asked: unknown[] = [];
        const addr = k === 'kernel' ? loop : byway;
        const s = (k === 'kernel' ? net.createConnection : a.net.createConnection)({ host: 'dual.test', port: k === 'kernel' ? kernelClosed : CLOSED, lookup: canned([{ address: addr.V6, family: 6 }, { address: addr.V4, family: 4 }], asked) } as never) as net.Socket;
        const [err] = await once<[AggregateError & { code?: string }]>(s, 'error');
        const [hadError] = await once<[boolean]>(s, 'close');
        return { err, hadError, attempted: (s as net.Socket & { autoSelectFamilyAttemptedAddresses?: string[] }).autoSelectFamilyAttemptedAddresses!.length };
      }),
    );
    for (const { err, hadError, attempted } of errs) {
      expect(err).toBeInstanceOf(AggregateError);
      expect(err.constructor).toBe(AggregateError);
      expect(err.message).toBe('');
      expect(err.code).toBe('ECONNREFUSED');
      expect(err.errors.map((e: NodeJS.ErrnoException) => [e.code, e.syscall])).toEqual([
        ['ECONNREFUSED', 'connect'],
        ['ECONNREFUSED', 'connect'],
      ]);
      expect(hadError).toBe(true);
      expect(attempted).toBe(2);
    }
    expect((errs[1]!.err.errors as Error[]).map((e) => e.message)).toEqual([`connect ECONNREFUSED fd00::2:${CLOSED}`, `connect ECONNREFUSED 10.0.0.2:${CLOSED}`]);
  });

  it('a silent first address: abandoned after autoSelectFamilyAttemptTimeout (connectionAttemptTimeout), the next connects', async () => {
    const asked: unknown[] = [];
    const lookup = canned([{ address: 'fd00::99', family: 6 }, { address: '10.0.0.2', family: 4 }], asked);
    const s = a.net.createConnection({ host: 'dual.test', port: BYWAY_PORT, lookup, autoSelectFamilyAttemptTimeout: 20 } as never) as net.Socket;
    const events = record(s, roles);
    await once(s, 'connect');
    expect(events).toEqual([
      ['lookup', null, 'SILENT', 6, 'dual.test'],
      ['lookup', null, 'V4', 4, 'dual.test'],
      ['connectionAttempt', 'SILENT', BYWAY_PORT, 6],
      ['connectionAttemptTimeout', 'SILENT', BYWAY_PORT, 6],
      ['connectionAttempt', 'V4', BYWAY_PORT, 4],
      ['connect'],
    ]);
    expect((s as net.Socket & { autoSelectFamilyAttemptedAddresses?: string[] }).autoSelectFamilyAttemptedAddresses).toEqual([`fd00::99:${BYWAY_PORT}`, `10.0.0.2:${BYWAY_PORT}`]);
    expect(s.remoteAddress).toBe('10.0.0.2');
    let got = '';
    s.setEncoding('utf8').on('data', (d: string) => (got += d));
    await once(s, 'end');
    expect(got).toBe('hi'); // the socket works after a failed attempt
    s.destroy();
    // The abandoned attempt left no connection behind on the client's stack.
    expect(a.connections().filter((c) => c.remoteAddress === 'fd00::99')).toEqual([]);
  });

  it('a stack without IPv6: the IPv6 attempt fails at once (ENETUNREACH), the IPv4 one connects', async () => {
    const asked: unknown[] = [];
    const lookup = canned([{ address: 'fd00::2', family: 6 }, { address: '10.0.0.2', family: 4 }], asked);
    const s = v4only.net.createConnection({ host: 'dual.test', port: BYWAY_PORT, lookup } as never) as net.Socket;
    const events = record(s, roles);
    await once(s, 'connect');
    expect(events.map((e) => e.slice(0, 4))).toEqual([
      ['lookup', null, 'V6', 6],
      ['lookup', null, 'V4', 4],
      ['connectionAttempt', 'V6', BYWAY_PORT, 6],
      ['connectionAttemptFailed', 'V6', BYWAY_PORT, 6],
      ['connectionAttempt', 'V4', BYWAY_PORT, 4],
      ['connect'],
    ]);
    expect((events[3]![4] as { code: string }).code).toBe('ENETUNREACH');
    s.destroy();
  });

  it('autoSelectFamily false (option or net.setDefaultAutoSelectFamily): one address asked, no attempt list, as node:net', async () => {
    const off = await both({ kernel: kernelPort, byway: BYWAY_PORT }, { autoSelectFamily: false });
    expect(off.bypass.events).toEqual(off.kernel.events);
    expect(off.bypass.events).toEqual([['lookup', null, 'V6', 6, 'dual.test'], ['connectionAttempt', 'V6', 'PORT', 6], ['connect']]);
    expect(off.bypass.asked).toEqual([{ family: undefined, hints: dns.ADDRCONFIG }]);
    expect(off.bypass.asked).toEqual(off.kernel.asked);
    expect('autoSelectFamilyAttemptedAddresses' in off.bypass.sock).toBe(false);
    const before = net.getDefaultAutoSelectFamily();
    net.setDefaultAutoSelectFamily(false);
    try {
      const dflt = await both({ kernel: kernelPort, byway: BYWAY_PORT });
      expect(dflt.bypass.asked).toEqual([{ family: undefined, hints: dns.ADDRCONFIG }]);
      expect(dflt.bypass.asked).toEqual(dflt.kernel.asked);
    } finally {
      net.setDefaultAutoSelectFamily(before);
    }
    // A family asked: no auto-selection either.
    const six = await both({ kernel: kernelPort, byway: BYWAY_PORT }, { family: 6 });
    expect(six.bypass.asked).toEqual(six.kernel.asked);
    expect(six.bypass.asked).toEqual([{ family: 6, hints: 0 }]);
  });

  it('a literal: one attempt with its events (connectionAttempt, connectionAttemptFailed), as node:net', async () => {
    const k = net.createConnection({ host: '127.0.0.1', port: kernelClosed });
    const b4 = a.net.createConnection({ host: '10.0.0.2', port: CLOSED }) as unknown as net.Socket;
    const ek = record(k, roles);
    const eb = record(b4, roles);
    await Promise.all([settle(k), settle(b4)]);
    const shape = (ev: unknown[][]) => ev.map((e) => e.map((x) => (typeof x === 'number' && x > 6 ? 'PORT' : typeof x === 'object' && x !== null ? (x as { code: string }).code : x)));
    expect(shape(eb)).toEqual(shape(ek));
    expect(shape(eb)).toEqual([
      ['connectionAttempt', 'V4', 'PORT', 4],
      ['connectionAttemptFailed', 'V4', 'PORT', 4, 'ECONNREFUSED'],
      ['error', 'ECONNREFUSED'],
    ]);
  });

  it('misuse throws what node:net throws', () => {
    const cases: Record<string, unknown>[] = [
      { autoSelectFamily: 'yes' },
      { autoSelectFamilyAttemptTimeout: 'x' },
      { autoSelectFamilyAttemptTimeout: 0 },
      { autoSelectFamilyAttemptTimeout: 1.5 },
      { autoSelectFamilyAttemptTimeout: 2 ** 31 },
    ];
    const thrown = (f: () => unknown) => {
      try {
        const s = f() as net.Socket;
        s.destroy();
      } catch (e) {
        return [(e as Error).constructor.name, (e as NodeJS.ErrnoException).code, (e as Error).message];
      }
      return undefined;
    };
    for (const c of cases) {
      const o = { host: 'dual.test', port: 1, ...c };
      const mine = thrown(() => a.net.createConnection(o as never));
      expect(mine).toBeDefined();
      expect(mine).toEqual(thrown(() => net.createConnection(o as never)));
    }
    // Below 10 ms is taken as 10, as node:net does: no throw.
    expect(thrown(() => a.net.createConnection({ host: 'dual.test', port: 1, autoSelectFamilyAttemptTimeout: 5, lookup: () => {} } as never))).toBeUndefined();
  });
});
