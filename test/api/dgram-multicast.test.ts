/**
 * node:dgram's multicast API on byway's udp4 sockets, against node:dgram's own run beside it with the same calls
 * (the logic of Node's test-dgram-membership, test-dgram-multicast-setTTL, -loopback, -set-interface and -ssm*):
 * the errors (class, code, message) of addMembership, dropMembership, add/dropSourceSpecificMembership,
 * setMulticastTTL, setMulticastLoopback and setMulticastInterface, bound, unbound and closed; then datagrams over a
 * memory link: a group reaches the socket that joined it and, looped back, the sender's own member socket (not
 * after setMulticastLoopback(false)); a source-specific member hears only its source; a dropped group nothing.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { seededRng } from '../../protocols/util/rng.js';
import { once } from './harness.js';

type Sock = dgram.Socket;

const outcome = (f: () => unknown): unknown => {
  try {
    const r = f();
    return ['ok', r];
  } catch (e) {
    return [(e as Error).constructor.name, (e as NodeJS.ErrnoException).code, (e as Error).message];
  }
};

const CALLS: [string, (s: Sock) => unknown][] = [
  ['ttl string', (s) => s.setMulticastTTL('x' as never)],
  ['ttl 1000', (s) => s.setMulticastTTL(1000)],
  ['ttl -1', (s) => s.setMulticastTTL(-1)],
  ['ttl 0', (s) => s.setMulticastTTL(0)],
  ['ttl 1.5', (s) => s.setMulticastTTL(1.5)],
  ['ttl 16', (s) => s.setMulticastTTL(16)],
  ['loop 0', (s) => s.setMulticastLoopback(0 as never)],
  ['loop "x"', (s) => s.setMulticastLoopback('x' as never)],
  ['loop true', (s) => s.setMulticastLoopback(true)],
  ['if number', (s) => s.setMulticastInterface(1 as never)],
  ['if 0.0.0.0', (s) => s.setMulticastInterface('0.0.0.0')],
  ['if not ours', (s) => s.setMulticastInterface('10.99.99.99')],
  ['if junk', (s) => s.setMulticastInterface('bogus')],
  ['if ::', (s) => s.setMulticastInterface('::')],
  ['join', (s) => s.addMembership('239.1.2.3')],
  ['join twice', (s) => s.addMembership('239.1.2.3')],
  ['join unicast', (s) => s.addMembership('10.1.2.3')],
  ['join junk', (s) => s.addMembership('bogus')],
  ['join ipv6', (s) => s.addMembership('ff15::1')],
  ['join iface junk', (s) => s.addMembership('239.1.2.4', 'bogus')],
  ['join iface not ours', (s) => s.addMembership('239.1.2.5', '10.99.99.99')],
  ['join iface any', (s) => s.addMembership('239.1.2.6', '0.0.0.0')],
  ['join none', (s) => (s.addMembership as (...a: unknown[]) => void)()],
  ['join number', (s) => s.addMembership(5 as never)],
  ['drop never', (s) => s.dropMembership('239.9.9.9')],
  ['drop', (s) => s.dropMembership('239.1.2.3')],
  ['drop junk', (s) => s.dropMembership('bogus')],
  ['drop none', (s) => (s.dropMembership as (...a: unknown[]) => void)()],
  ['ssm', (s) => s.addSourceSpecificMembership('10.9.9.9', '232.1.1.1')],
  ['ssm twice', (s) => s.addSourceSpecificMembership('10.9.9.9', '232.1.1.1')],
  ['ssm source number', (s) => s.addSourceSpecificMembership(1 as never, '232.1.1.1')],
  ['ssm group number', (s) => s.addSourceSpecificMembership('10.9.9.9', 1 as never)],
  ['ssm unicast group', (s) => s.addSourceSpecificMembership('10.9.9.9', '10.1.1.1')],
  ['ssm junk source', (s) => s.addSourceSpecificMembership('bogus', '232.1.1.1')],
  ['ssm ipv6 group', (s) => s.addSourceSpecificMembership('10.9.9.9', 'ff3e::1')],
  ['ssm iface junk', (s) => s.addSourceSpecificMembership('10.9.9.7', '232.1.1.1', 'bogus')],
  ['join on ssm', (s) => s.addMembership('232.1.1.1')],
  ['ssm on joined', (s) => s.addSourceSpecificMembership('10.9.9.9', '239.1.2.6')],
  ['dssm other source', (s) => s.dropSourceSpecificMembership('10.9.9.8', '232.1.1.1')],
  ['dssm', (s) => s.dropSourceSpecificMembership('10.9.9.9', '232.1.1.1')],
  ['dssm never', (s) => s.dropSourceSpecificMembership('10.9.9.9', '232.1.1.2')],
];

const CLOSED: [string, (s: Sock) => unknown][] = [
  ['ttl', (s) => s.setMulticastTTL(2)],
  ['loop', (s) => s.setMulticastLoopback(true)],
  ['if', (s) => s.setMulticastInterface('0.0.0.0')],
  ['join', (s) => s.addMembership('239.1.2.3')],
  ['drop', (s) => s.dropMembership('239.1.2.3')],
  ['ssm', (s) => s.addSourceSpecificMembership('10.9.9.9', '232.1.1.1')],
  ['dssm', (s) => s.dropSourceSpecificMembership('10.9.9.9', '232.1.1.1')],
];

/** Event-loop turns (the stacks' polls run on them; no time passes on purpose) until `done`, at most 100. */
async function turns(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setImmediate(r));
}

describe('stack.dgram udp4 multicast, beside node:dgram', () => {
  let a: Stack;
  let b: Stack;
  beforeAll(async () => {
    const [da, db] = memoryLink();
    a = createStack({ driver: da, address: '10.0.0.1/24', rng: seededRng(1) });
    b = createStack({ driver: db, address: '10.0.0.2/24', rng: seededRng(2) });
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(() => {
    a.close();
    b.close();
  });

  const bypass = (s: Stack): Sock => s.dgram.createSocket({ type: 'udp4', path: 'bypass' } as never) as unknown as Sock;

  it('the same outcome for every call, bound; unbound (EBADF, or bound by a membership); closed', async () => {
    const mine = bypass(a);
    const theirs = dgram.createSocket('udp4');
    for (const [name, call] of CALLS.slice(0, 3)) expect([name, outcome(() => call(mine))]).toEqual([name, outcome(() => call(theirs))]);
    expect(outcome(() => mine.setMulticastInterface('0.0.0.0'))).toEqual(outcome(() => theirs.setMulticastInterface('0.0.0.0')));
    mine.bind(0);
    theirs.bind(0);
    await Promise.all([once(mine as never, 'listening'), once(theirs as never, 'listening')]);
    for (const [name, call] of CALLS) expect([name, outcome(() => call(mine))]).toEqual([name, outcome(() => call(theirs))]);
    // byway's own address is its interface, as the kernel's own is the kernel's.
    expect(outcome(() => mine.setMulticastInterface('10.0.0.1'))).toEqual(['ok', undefined]);
    expect(outcome(() => mine.addMembership('239.1.2.8', '10.0.0.1'))).toEqual(['ok', undefined]);
    mine.close();
    theirs.close();
    for (const [name, call] of CLOSED) expect([name, outcome(() => call(mine))]).toEqual([name, outcome(() => call(theirs))]);
    // A membership binds an unbound socket (libuv's deferred bind), on both.
    const m2 = bypass(a);
    const t2 = dgram.createSocket('udp4');
    expect(outcome(() => m2.addSourceSpecificMembership('10.9.9.9', '232.1.1.1'))).toEqual(outcome(() => t2.addSourceSpecificMembership('10.9.9.9', '232.1.1.1')));
    await once(m2 as never, 'listening');
    expect(m2.address().port).toBeGreaterThan(0);
    expect(t2.address().port).toBeGreaterThan(0);
    m2.close();
    t2.close();
    expect(a.core.igmp.has(0xe8010101)).toBe(false); // left with the socket
  });

  it('a group reaches its members, the sender\'s own too (loopback), until dropped; a source-specific member hears its source only', async () => {
    const rx = bypass(a);
    const ssm = bypass(a);
    const tx = bypass(b);
    const tx2 = bypass(a);
    const got: string[] = [];
    const ssmGot: string[] = [];
    rx.on('message', (m, r) => got.push(`${r.address} ${m}`));
    ssm.on('message', (m, r) => ssmGot.push(`${r.address} ${m}`));
    rx.bind(7000);
    ssm.bind(7001);
    tx.bind(7000); // b's sender is a member too: it hears its own datagrams
    tx2.bind(0);
    await Promise.all([once(rx as never, 'listening'), once(ssm as never, 'listening'), once(tx as never, 'listening'), once(tx2 as never, 'listening')]);
    rx.addMembership('239.5.5.5');
    tx.addMembership('239.5.5.5');
    const txGot: string[] = [];
    tx.on('message', (m, r) => txGot.push(`${r.address} ${m}`));
    ssm.addSourceSpecificMembership('10.0.0.2', '232.5.5.5');
    const send = (s: Sock, msg: string, group: string, port: number) => new Promise<void>((res, rej) => s.send(msg, port, group, (e) => (e ? rej(e) : res())));
    await send(tx, 'one', '239.5.5.5', 7000);
    await send(tx, 'ssm', '232.5.5.5', 7001);
    await send(tx2, 'own source', '232.5.5.5', 7001); // from 10.0.0.1: not the member's source
    await turns(() => got.length >= 1 && txGot.length >= 1 && ssmGot.length >= 1);
    expect(got).toEqual(['10.0.0.2 one']);
    expect(txGot).toEqual(['10.0.0.2 one']);
    expect(ssmGot).toEqual(['10.0.0.2 ssm']);
    tx.setMulticastLoopback(false);
    await send(tx, 'two', '239.5.5.5', 7000);
    await turns(() => got.length >= 2);
    expect(got).toEqual(['10.0.0.2 one', '10.0.0.2 two']);
    expect(txGot).toEqual(['10.0.0.2 one']);
    rx.dropMembership('239.5.5.5');
    const refused = a.core.stats.igmp!.notJoined;
    await send(tx, 'three', '239.5.5.5', 7000);
    await turns(() => a.core.stats.igmp!.notJoined > refused); // the datagram came, and was not taken
    expect(got).toHaveLength(2);
    expect(a.core.stats.igmp!.notJoined).toBeGreaterThan(refused);
    for (const s of [rx, ssm, tx, tx2]) s.close();
  });
});
