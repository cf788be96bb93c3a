/**
 * udp6 multicast membership on the bypass path (stack.dgram), against node:dgram's own: the errors of
 * addMembership/dropMembership (a node:dgram udp6 socket run beside, same calls), and a datagram to a group
 * reaching the joined socket over a memory link (the stack reports the group with MLD, src/stack/mld.ts).
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { seededRng } from '../../protocols/util/rng.js';
import { once } from './harness.js';

type Dgram = { addMembership(g?: unknown, i?: unknown): void; dropMembership(g?: unknown, i?: unknown): void; close(): void; bind(p: number): void };

const outcome = (f: () => unknown): unknown => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return [(e as Error).constructor.name, (e as NodeJS.ErrnoException).code, (e as Error).message];
  }
};

describe('stack.dgram udp6 multicast membership', () => {
  let a: Stack;
  let b: Stack;
  beforeAll(async () => {
    const [da, db] = memoryLink();
    const quick = { dad: { dupAddrDetectTransmits: 0 } };
    a = createStack({ driver: da, address: 'fd00::1/64', ipv6: quick, rng: seededRng(1) });
    b = createStack({ driver: db, address: 'fd00::2/64', ipv6: quick, rng: seededRng(2) });
    await Promise.all([a.ready(), b.ready()]);
  });
  afterAll(() => {
    a.close();
    b.close();
  });

  it('misuse and refusals as node:dgram: missing group, not a group, a bad interface, joined twice, dropping what was not joined, closed', async () => {
    const calls: [string, (s: Dgram) => unknown][] = [
      ['join', (s) => s.addMembership('ff15::77')],
      ['none', (s) => s.addMembership()],
      ['unicast', (s) => s.addMembership('fd00::1')],
      ['junk', (s) => s.addMembership('not an address')],
      ['iface', (s) => s.addMembership('ff15::78', 'lo')],
      ['twice', (s) => s.addMembership('ff15::77')],
      ['drop', (s) => s.dropMembership('ff15::77')],
      ['drop again', (s) => s.dropMembership('ff15::77')],
      ['drop never', (s) => s.dropMembership('ff15::79')],
      ['drop none', (s) => s.dropMembership()],
    ];
    const mine = a.dgram.createSocket({ type: 'udp6', path: 'bypass' } as never) as unknown as Dgram;
    const theirs = dgram.createSocket('udp6') as unknown as Dgram;
    mine.bind(0);
    theirs.bind(0);
    await Promise.all([once(mine as never, 'listening'), once(theirs as never, 'listening')]);
    for (const [name, call] of calls) expect([name, outcome(() => call(mine))]).toEqual([name, outcome(() => call(theirs))]);
    mine.close();
    theirs.close();
    expect(outcome(() => mine.addMembership('ff15::77'))).toEqual(outcome(() => theirs.addMembership('ff15::77')));
    // A udp6 socket joins an IPv4 group too (IGMP), as node:dgram's does on Linux.
    const v4 = a.dgram.createSocket({ type: 'udp6', path: 'bypass' } as never) as unknown as Dgram;
    const kv4 = dgram.createSocket('udp6') as unknown as Dgram;
    expect(outcome(() => v4.addMembership('239.1.2.3'))).toEqual(outcome(() => kv4.addMembership('239.1.2.3')));
    expect(a.core.igmp.has(0xef010203)).toBe(true);
    kv4.close();
    v4.close();
  });

  it('a datagram to a group reaches the socket that joined it (and any udp6 socket on the port, as Linux), until it drops it', async () => {
    const member = b.dgram.createSocket({ type: 'udp6', path: 'bypass' } as never) as unknown as dgram.Socket;
    member.bind(6000);
    await once(member, 'listening');
    member.addMembership('ff15::1234');
    expect(b.stats.mld).toMatchObject({ reportsSent: expect.any(Number) as number });
    const sender = a.dgram.createSocket({ type: 'udp6', path: 'bypass' } as never) as unknown as dgram.Socket;
    const got = once<[Buffer, dgram.RemoteInfo]>(member, 'message');
    sender.send('hello group', 6000, 'ff15::1234');
    const [msg, rinfo] = await got;
    expect(msg.toString()).toBe('hello group');
    expect(rinfo).toMatchObject({ address: 'fd00::1', family: 'IPv6' });
    member.dropMembership('ff15::1234');
    let late = 0;
    member.on('message', () => late++);
    await new Promise<void>((r) => sender.send('after the drop', 6000, 'ff15::1234', () => r()));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(late).toBe(0);
    expect(b.stats.ipv6!.notForUs).toBeGreaterThan(0); // dropped at the IPv6 layer: no longer our group
    member.close();
    sender.close();
  });

  it('a close leaves the socket\'s groups; a group two sockets joined is left with the last of them', async () => {
    const mld = b.core.ipv6!.mld;
    const G = 'ff15::5678';
    const [s1, s2] = [0, 1].map(() => b.dgram.createSocket({ type: 'udp6', path: 'bypass' } as never) as unknown as dgram.Socket);
    s1!.addMembership(G); // unbound: bound first (byway's bind ends with 'listening'; node:dgram's is silent)
    s2!.addMembership(G);
    await once(s1!, 'listening');
    expect(s1!.address()).toMatchObject({ address: '::', family: 'IPv6' });
    const group = new Uint8Array(Buffer.from('ff150000000000000000000000005678', 'hex'));
    expect(mld.has(group)).toBe(true);
    const toIn = mld.stats.reportsSent;
    s1!.close();
    expect(mld.has(group)).toBe(true);
    s2!.close();
    expect(mld.has(group)).toBe(false);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); // the stack's next polls
    expect(mld.stats.reportsSent).toBeGreaterThan(toIn); // the CHANGE_TO_INCLUDE report went out
  });
});
