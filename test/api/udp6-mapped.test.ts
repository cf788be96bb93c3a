/**
 * A udp6 socket bound to an IPv4-mapped address (::ffff:a.b.c.d), through the API over a memory link, against what
 * node:dgram does on the kernel path (checked on ::ffff:127.0.0.1 in the same test): it sends and receives IPv4
 * only, shows its address and its peers as ::ffff:a.b.c.d, refuses IPv6 destinations with EAFNOSUPPORT, and an
 * ipv6Only socket cannot bind one (EINVAL).
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { seededRng } from '../../protocols/util/rng.js';

let stacks: Stack[] = [];
afterEach(() => {
  for (const s of stacks) s.close();
  stacks = [];
});

function pair(): [Stack, Stack] {
  const [da, db] = memoryLink();
  const ipv6 = { dad: { dupAddrDetectTransmits: 0 } };
  stacks = [
    createStack({ driver: da, address: ['10.0.0.1/24', 'fd00::1/64'], rng: seededRng(31), ipv6 }),
    createStack({ driver: db, address: ['10.0.0.2/24', 'fd00::2/64'], rng: seededRng(32), ipv6 }),
  ];
  return stacks as [Stack, Stack];
}

type Sock = dgram.Socket | ReturnType<Stack['dgram']['createSocket']>;

/** What a udp6 socket bound to ::ffff:<v4> does, on either implementation: the shapes to compare. */
async function behaviour(make: (o: { type: 'udp6'; ipv6Only?: boolean }) => Sock, v4: string, peer: Sock, peerAddr: string, v6dst: string): Promise<unknown[]> {
  const out: unknown[] = [];
  const s = make({ type: 'udp6' });
  s.bind(0, `::ffff:${v4}`);
  await once(s, 'listening');
  const a = s.address();
  out.push({ ...a, port: typeof a.port });
  const pa = peer.address().port;
  const atPeer = once(peer, 'message');
  s.send('hi', pa, `::ffff:${peerAddr}`);
  const [, r1] = (await atPeer) as [Buffer, dgram.RemoteInfo];
  out.push({ ...r1, port: r1.port === a.port });
  const back = once(s, 'message');
  peer.send('back', r1.port, r1.address);
  const [m2, r2] = (await back) as [Buffer, dgram.RemoteInfo];
  out.push(m2.toString(), { ...r2, port: r2.port === pa });
  const err = await new Promise<Error | null>((resolve) => s.send('x', 9, v6dst, (e) => resolve(e)));
  out.push({ code: (err as NodeJS.ErrnoException | null)?.code, syscall: (err as NodeJS.ErrnoException | null)?.syscall });
  s.close();
  const only = make({ type: 'udp6', ipv6Only: true });
  only.bind(0, `::ffff:${v4}`);
  const [e2] = (await once(only, 'error')) as [NodeJS.ErrnoException];
  out.push({ code: e2.code, syscall: e2.syscall });
  only.close();
  return out;
}

describe('udp6 bound to an IPv4-mapped address', () => {
  it('behaves as node:dgram does on the kernel path', async () => {
    const [a, b] = pair();
    const peer = b.dgram.createSocket('udp4');
    peer.bind(0, '10.0.0.2');
    await once(peer, 'listening');
    const ours = await behaviour((o) => a.dgram.createSocket(o), '10.0.0.1', peer, '10.0.0.2', 'fd00::2');
    peer.close();
    const kpeer = dgram.createSocket('udp4');
    kpeer.bind(0, '127.0.0.1');
    await once(kpeer, 'listening');
    const kernel = await behaviour((o) => dgram.createSocket(o), '127.0.0.1', kpeer, '127.0.0.1', '::1');
    kpeer.close();
    const norm = (x: unknown[]) => JSON.parse(JSON.stringify(x).replaceAll('10.0.0.1', 'A').replaceAll('10.0.0.2', 'B').replaceAll('127.0.0.1', 'A'));
    // On loopback the peer is the same address (A); byway's peer is B: compare with B written as A.
    expect(norm(ours).map((x: unknown) => JSON.parse(JSON.stringify(x).replaceAll('B', 'A')))).toEqual(norm(kernel));
    expect(ours[0]).toEqual({ address: '::ffff:10.0.0.1', family: 'IPv6', port: 'number' });
    expect(ours[1]).toMatchObject({ address: '10.0.0.1', family: 'IPv4', port: true });
    expect(ours[3]).toMatchObject({ address: '::ffff:10.0.0.2', family: 'IPv6', port: true });
    expect(ours[4]).toEqual({ code: 'EAFNOSUPPORT', syscall: 'send' });
    expect(ours[5]).toEqual({ code: 'EINVAL', syscall: 'bind' });
  });

  it('takes the IPv4 port (a udp4 bind of it is EADDRINUSE), gets no IPv6 datagram, and is refused a foreign address', async () => {
    const [a, b] = pair();
    const s = a.dgram.createSocket('udp6');
    s.bind(7400, '::ffff:10.0.0.1');
    await once(s, 'listening');
    const v4 = a.dgram.createSocket('udp4');
    v4.bind(7400, '10.0.0.1');
    expect((await once(v4, 'error'))[0]).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
    // An IPv6 socket on the same port and a specific IPv6 address is no conflict, and gets the IPv6 datagram.
    const six = a.dgram.createSocket('udp6');
    six.bind(7400, 'fd00::1');
    await once(six, 'listening');
    let mappedGot = 0;
    s.on('message', () => mappedGot++);
    const c = b.dgram.createSocket('udp6');
    const at6 = once(six, 'message');
    c.send('over v6', 7400, 'fd00::1');
    expect(((await at6)[1] as dgram.RemoteInfo).address).toBe('fd00::2');
    expect(mappedGot).toBe(0);
    const far = a.dgram.createSocket('udp6');
    far.bind(0, '::ffff:10.9.9.9');
    expect((await once(far, 'error'))[0]).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'bind' });
    for (const x of [s, v4, six, c, far]) x.close();
  });
});
