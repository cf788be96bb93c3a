/**
 * AF_PACKET transmit checksum offload without TSO (openAfPacket({ checksumOffload }): PACKET_VNET_HDR) against the
 * Linux kernel: the latency ring (TPACKET_V2) leaves the TCP/UDP checksums to the kernel when the device offloads
 * them, so the stack writes no transport checksum in JS.
 *
 * Two veth pairs between namespaces A and B: `off` with tx checksum offload off on both ends (as on a wire: the
 * kernel completes a partial checksum in software on vethA's way out, even through the qdisc bypass), `on` with
 * the veth's default (tx-checksumming on: the frame crosses with its checksum partial, as a kernel sender's does).
 *
 * (a) the option: auto follows the interface's tx-checksumming; true and false force it; tso refuses false.
 * (b) the vnet header in the tx ring: NEEDS_CSUM, csum_start at the UDP header, csum_offset 6, the pseudo-header
 *     sum (folded, not complemented) in the checksum field.
 * (c) on `off`, with the qdisc bypass, frames from the raw driver and from a whole stack's dgram socket reach B
 *     with checksums the kernel verified (B's UDP counts no checksum error) and that verify when captured on vethB;
 *     a kernel UDP socket in B receives the stack's datagrams.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStack } from '../../src/index.js';
import { openAfPacket, type AfPacketDriver } from '../../drivers/af-packet/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { finish, onesSum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { NetLab, describePrivileged, execIn, ipIn, until } from '../helpers/netns.js';
import { ethernet, get16, get32, ip, udpPacket } from './frames.js';

const BYWAY = ip('10.77.41.2');
const KERNEL = ip('10.77.41.1');

function udpCounters(ns: string): { noPorts: number; inCsumErrors: number; inDatagrams: number } {
  const lines = execIn(ns, 'cat', ['/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/).map(Number);
  const at = (k: string): number => vals[names.indexOf(k)]!;
  return { noPorts: at('NoPorts'), inCsumErrors: at('InCsumErrors'), inDatagrams: at('InDatagrams') };
}

function macOf(ns: string, dev: string): Uint8Array {
  return new Uint8Array(/link\/ether ([0-9a-f:]+)/.exec(ipIn(ns, `link show ${dev}`))![1]!.split(':').map((h) => parseInt(h, 16)));
}

/** Copies of the frames `keep` accepts, received on `d` until `n` came or `ms` passed. */
async function collect(d: FrameDriver, keep: (f: Uint8Array) => boolean, n: number, ms: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  const end = Date.now() + ms;
  while (got.length < n && Date.now() < end) {
    if (d.receive(0, 64, (f) => void (keep(f) && got.push(f.slice()))) === 0) await new Promise((r) => setTimeout(r, 2));
  }
  return got;
}

const udpTo = (port: number) => (f: Uint8Array): boolean => f.length >= 42 && get16(f, 12) === 0x0800 && f[23] === 17 && get32(f, 26) === BYWAY && get16(f, 36) === port;
/** The UDP checksum of an IPv4 frame verifies (RFC 768: the sum over pseudo-header and datagram is 0xffff). */
const udpOk = (f: Uint8Array): boolean => get16(f, 40) !== 0 && finish(onesSum(f, 34, 34 + get16(f, 38), pseudoHeaderSum(get32(f, 26), get32(f, 30), 17, get16(f, 38)))) === 0;

describePrivileged('AF_PACKET transmit checksum offload (virtio-net header, no TSO) against the kernel', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let off = { a: '', b: '' };
  let on = { a: '', b: '' };
  let cap: AfPacketDriver | undefined;
  let kernelMac: Uint8Array = new Uint8Array(6);

  beforeAll(() => {
    nsA = lab.addNetns('bwpc-');
    nsB = lab.addNetns('bwpc-');
    off = lab.addVeth(nsA, nsB, { addrB: '10.77.41.1/24' });
    on = lab.addVeth(nsA, nsB, { addrB: '10.77.42.1/24', txChecksumOffload: true });
    kernelMac = macOf(nsB, off.b);
    // B's end of `off`, as a wire tap: what the kernel made of byway's frames.
    cap = openAfPacket({ ifname: off.b, netns: nsB, filter: false, tpacketVersion: 2 });
  });
  afterAll(async () => {
    cap?.close();
    await lab.stopProcesses(500);
    lab.destroy();
  });

  it('follows the interface by default, is forced by true or false, and is refused off with tso', () => {
    const cases: [string, boolean | undefined, boolean][] = [
      [on.a, undefined, true],
      [off.a, undefined, false],
      [on.a, false, false],
      [off.a, true, true],
    ];
    for (const [ifname, opt, want] of cases) {
      const d = openAfPacket({ ifname, netns: nsA, tpacketVersion: 2, ...(opt === undefined ? {} : { checksumOffload: opt }) });
      try {
        expect(d.checksumOffload).toBe(want);
        expect(d.tso).toBe(false);
        expect(d.qdiscBypass).toBe(true);
        expect(d.caps.tso).toBeUndefined();
        expect(d.caps.checksum.udp.tx).toBe(want ? 'offload' : 'compute');
        expect(d.caps.checksum.tcp.tx).toBe(want ? 'offload' : 'compute');
        expect(d.caps.checksum.ipv4.tx).toBe('compute');
        expect(d.frameCap).toBeGreaterThanOrEqual(1514);
      } finally {
        d.close();
      }
    }
    const v3 = openAfPacket({ ifname: on.a, netns: nsA });
    try {
      expect(v3.tpacketVersion).toBe(3);
      expect(v3.checksumOffload).toBe(true);
    } finally {
      v3.close();
    }
    expect(() => openAfPacket({ ifname: on.a, netns: nsA, tso: true, checksumOffload: false })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => openAfPacket({ ifname: on.a, netns: nsA, checksumOffload: 1 as unknown as boolean })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  for (const version of [2, 3] as const) {
    it(`TPACKET_V${version}: the ring's virtio-net header asks for the UDP checksum; the kernel completes it through the qdisc bypass`, async () => {
      const d = openAfPacket({ ifname: off.a, netns: nsA, ipv4: '10.77.41.2', tpacketVersion: version, checksumOffload: true });
      try {
        expect(d.qdiscBypass).toBe(true);
        while (cap!.receive(0, 256, () => {}) > 0);
        const before = udpCounters(nsB);
        const port = 5410 + version;
        const sent: Uint8Array[] = [];
        for (let i = 0; i < 4; i++) {
          const payload = new Uint8Array(1 + i * 333).map((_, k) => (k * 7 + i + version) & 0xff); // odd and even lengths
          const frame = ethernet(kernelMac, d.hwAddress!, 0x0800, udpPacket(BYWAY, KERNEL, 4440 + i, port, payload));
          frame[40] = 0; // the stack leaves the field alone when caps say 'offload'
          frame[41] = 0;
          const b = d.txReserve(frame.length)!;
          b.set(frame);
          d.txCommit(0, frame.length);
          d.flush(0);
          // The header the driver wrote right before the frame in the ring (struct virtio_net_hdr, little-endian).
          const vh = new DataView(b.buffer, b.byteOffset - 10, 10);
          expect(vh.getUint8(0)).toBe(1); // flags: VIRTIO_NET_HDR_F_NEEDS_CSUM
          expect(vh.getUint8(1)).toBe(0); // gso_type: VIRTIO_NET_HDR_GSO_NONE
          expect(vh.getUint16(4, true)).toBe(0); // gso_size
          expect(vh.getUint16(6, true)).toBe(34); // csum_start: the UDP header, after Ethernet and IPv4
          expect(vh.getUint16(8, true)).toBe(6); // csum_offset: UDP's checksum field
          expect(get16(b, 40)).toBe(pseudoHeaderSum(BYWAY, KERNEL, 17, 8 + payload.length));
          frame.set(b.subarray(40, 42), 40);
          sent.push(frame);
        }
        const got = await collect(cap!, udpTo(port), sent.length, 3000);
        expect(got.length).toBe(sent.length);
        for (const f of got) {
          expect(udpOk(f)).toBe(true);
          const i = get16(f, 34) - 4440;
          expect(Array.from(f.subarray(42, 34 + get16(f, 38)))).toEqual(Array.from(sent[i]!.subarray(42)));
        }
        // B's UDP checked every checksum (nothing listens: NoPorts counts only datagrams whose checksum verified).
        await until('B counted the datagrams', 2000, () => udpCounters(nsB).noPorts - before.noPorts >= sent.length);
        expect(udpCounters(nsB).inCsumErrors).toBe(before.inCsumErrors);
      } finally {
        d.close();
      }
    });
  }

  it('a whole stack on the offloading driver: a kernel UDP socket receives its datagrams, with checksums that verify', async () => {
    const port = 5420;
    const socat = lab.spawnIn(nsB, 'socat', ['-u', `UDP4-RECV:${port},bind=10.77.41.1`, 'STDOUT']);
    await until('socat is bound', 5000, () => execIn(nsB, 'ss', ['-Hulnp']).includes(`:${port}`));
    const driver = openAfPacket({ ifname: off.a, netns: nsA, ipv4: '10.77.41.2', tpacketVersion: 2, checksumOffload: true });
    const stack = createStack({ driver, address: '10.77.41.2/24' });
    try {
      while (cap!.receive(0, 256, () => {}) > 0);
      const before = udpCounters(nsB);
      const sock = stack.dgram.createSocket('udp4');
      const lines = ['first datagram\n', 'second, a little longer datagram\n', 'third\n'];
      for (const l of lines) await new Promise<void>((res, rej) => sock.send(l, port, '10.77.41.1', (e) => (e ? rej(e) : res())));
      await until('socat printed every datagram', 5000, () => lines.every((l) => socat.output().includes(l)));
      const got = await collect(cap!, (f) => f.length >= 42 && get16(f, 12) === 0x0800 && f[23] === 17 && get16(f, 36) === port, lines.length, 3000);
      expect(got.length).toBe(lines.length);
      for (const f of got) expect(udpOk(f)).toBe(true);
      const after = udpCounters(nsB);
      expect(after.inDatagrams - before.inDatagrams).toBeGreaterThanOrEqual(lines.length);
      expect(after.inCsumErrors).toBe(before.inCsumErrors);
      sock.close();
    } finally {
      stack.close();
    }
  });
});
