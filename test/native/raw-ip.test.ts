/**
 * Raw IP driver (L3, over the raw-socket package) against the kernel: byway in namespace A shares the kernel's
 * 10.77.6.1 and exchanges bare IPv4 packets with namespace B (10.77.6.2).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openRawIp, type RawIpDriver } from '../../drivers/raw-ip/index.js';
import { NetLab, describePrivileged, execIn } from '../helpers/netns.js';
import { echoReplyAt, get16, get32, icmpEchoPacket, ip, udpPacket, waitFrame } from './frames.js';
import { finish, onesSum, pseudoHeaderSum } from '../../protocols/util/checksum.js';

let haveRawSocket = true;
try {
  await import('raw-socket' as string);
} catch {
  haveRawSocket = false;
}

function sendPacket(d: RawIpDriver, p: Uint8Array): void {
  const b = d.txReserve(p.length)!;
  b.set(p);
  d.txCommit(0, p.length);
  d.flush(0);
}

describePrivileged(`raw IP driver against the kernel${haveRawSocket ? '' : ' (raw-socket missing)'}`, () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let d: RawIpDriver | undefined;
  const A = ip('10.77.6.1');
  const B = ip('10.77.6.2');
  beforeAll(() => {
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    lab.addVeth(nsA, nsB, { addrA: '10.77.6.1/24', addrB: '10.77.6.2/24' });
    if (haveRawSocket) d = openRawIp({ netns: nsA, protocols: ['icmp', 'udp'], localAddress: '10.77.6.1' });
  });
  afterAll(() => {
    d?.close();
    lab.destroy();
  });

  it.skipIf(!haveRawSocket && process.env.BYWAY_REQUIRE_PRIVILEGED !== '1')('is an L3 driver', () => {
    expect(d!.caps.medium).toBe('ip');
    expect(d!.hwAddress).toBeUndefined();
  });

  it.skipIf(!haveRawSocket && process.env.BYWAY_REQUIRE_PRIVILEGED !== '1')('ICMP echo request (hand-built IPv4 packet) gets the echo reply', async () => {
    const payload = new Uint8Array(40).fill(0x3c);
    sendPacket(d!, icmpEchoPacket(A, B, 0x6161, 5, payload));
    const p = await waitFrame(d!, (f) => echoReplyAt(f, 0, B, A, 0x6161, 5) !== undefined);
    expect(p).toBeDefined();
    const r = echoReplyAt(p!, 0, B, A, 0x6161, 5)!;
    expect(r.ipChecksumOk && r.icmpChecksumOk).toBe(true);
    expect(Array.from(r.payload)).toEqual(Array.from(payload));
    expect(d!.stats.txFrames).toBeGreaterThanOrEqual(1);
  });

  it.skipIf(!haveRawSocket && process.env.BYWAY_REQUIRE_PRIVILEGED !== '1')('UDP both ways: a datagram to a closed port draws ICMP port unreachable; a datagram from B arrives', async () => {
    sendPacket(d!, udpPacket(A, B, 40000, 9, new Uint8Array([1, 2, 3])));
    const unreach = await waitFrame(d!, (f) => f[9] === 1 && f[20] === 3 && f[21] === 3 && get16(f, 20 + 8 + 20 + 2) === 9);
    expect(unreach).toBeDefined();
    execIn(nsB, 'bash', ['-c', "printf 'hello' > /dev/udp/10.77.6.1/9999"]);
    const u = await waitFrame(d!, (f) => f[9] === 17 && get16(f, 22) === 9999);
    expect(u).toBeDefined();
    expect(new TextDecoder().decode(u!.subarray(28))).toBe('hello');
  });

  it.skipIf(!haveRawSocket && process.env.BYWAY_REQUIRE_PRIVILEGED !== '1')('UDP from a kernel peer with checksum offload on arrives with its checksum completed', async () => {
    const n1 = lab.addNetns();
    const n2 = lab.addNetns();
    lab.addVeth(n1, n2, { addrA: '10.77.17.1/24', addrB: '10.77.17.2/24', txChecksumOffload: true });
    const x = openRawIp({ netns: n1, protocols: ['udp'], localAddress: '10.77.17.1' });
    try {
      execIn(n2, 'bash', ['-c', "printf 'partial' > /dev/udp/10.77.17.1/9998"]);
      const u = await waitFrame(x, (f) => f[9] === 17 && get16(f, 22) === 9998);
      expect(u).toBeDefined();
      const ulen = get16(u!, 24);
      expect(finish(onesSum(u!, 20, 20 + ulen, pseudoHeaderSum(get32(u!, 12), get32(u!, 16), 17, ulen)))).toBe(0);
      expect(x.checksumsCompleted).toBe(1);
    } finally {
      x.close();
    }
  });

  it.skipIf(!haveRawSocket && process.env.BYWAY_REQUIRE_PRIVILEGED !== '1')('misuse and close', () => {
    expect(() => d!.txReserve(5000)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_BIG' }));
    expect(() => openRawIp({ netns: 'byway-ghost-ns' })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    const x = openRawIp({ netns: nsA });
    x.close();
    x.close();
    expect(() => x.receive(0, 1, () => {})).toThrow(expect.objectContaining({ code: 'ERR_DRIVER_CLOSED' }));
  });
});
