/**
 * The stack with an 802.1Q tag (`vlan`) over a TAP whose checksums and segmentation are offloaded to the kernel
 * (openTap({ tso: true }): virtio-net headers with NEEDS_CSUM and GSO_TCPV4). The addon's offload helpers must find
 * the IPv4 header after the tag: a tagged frame sent with a zero virtio-net header carries the unfinished checksum
 * field the stack leaves for the device, and a tagged 64 KiB packet not marked for GSO does not fit the link.
 *
 * These machines' kernel has no 802.1Q module, so the other end is a second byway stack with the same tag, on a
 * plain TAP (no virtio-net header: no offloads), the two TAPs bridged in a namespace the test creates. Forwarding
 * to the plain TAP, the kernel must finish every partial checksum and cut every GSO packet (validate_xmit_skb),
 * which it can only do where the virtio-net header said; the plain stack verifies every checksum in software.
 * Checked: UDP datagrams, and 8 MiB each way over TCP, SHA-256 compared, with no checksum failure counted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStack, type Stack } from '../../src/index.js';
import { openTap } from '../../drivers/tap/index.js';
import type { FrameDriver, FrameSink } from '../../drivers/types.js';
import { forwardRest } from '../../drivers/middleware/forward.js';
import { NetLab, describePrivileged, ipIn, uniqueName } from '../helpers/netns.js';

const VID = 42;

/**
 * Delegates to `inner`, keeping the UDP checksum field of every tagged IPv4 UDP frame handed up: a datagram sent
 * with its checksum left to a device that never finished it would carry 0 there ("no checksum", RFC 768), which a
 * receiver accepts, so arrival alone proves nothing for UDP.
 */
function watchingUdp(inner: FrameDriver): FrameDriver & { udpChecksums: number[] } {
  const udpChecksums: number[] = [];
  const receive = (now: number, max: number, sink: FrameSink): number =>
    inner.receive(now, max, (f, flags) => {
      const tagged = f.length >= 18 + 28 && f[12] === 0x81 && f[13] === 0x00 && f[16] === 0x08 && f[17] === 0x00;
      if (tagged && f[18 + 9] === 17) {
        const l4 = 18 + (f[18]! & 15) * 4;
        udpChecksums.push((f[l4 + 6]! << 8) | f[l4 + 7]!);
      }
      sink(f, flags);
    });
  return forwardRest({ udpChecksums, receive }, inner) as FrameDriver & { udpChecksums: number[] };
}

describePrivileged('a VLAN-tagged stack over a TAP with checksum and segmentation offload', () => {
  const lab = new NetLab();
  let ns = '';
  const data = randomBytes(8 << 20);
  const sha = createHash('sha256').update(data).digest('hex');
  beforeAll(() => {
    ns = lab.addNetns();
    ipIn(ns, 'link add bwbr0 type bridge');
    ipIn(ns, 'link set bwbr0 up');
  });
  afterAll(() => lab.destroy());

  /** The offloading stack (a) and the plain one (b), both tagged, their TAPs on the bridge. */
  function open(): { a: Stack; b: Stack; seen: { udpChecksums: number[] }; close: () => Promise<void> } {
    const ta = openTap({ name: uniqueName('bwva'), netns: ns, tso: true });
    const tb = openTap({ name: uniqueName('bwvb'), netns: ns });
    for (const t of [ta, tb]) {
      ipIn(ns, `link set ${t.ifname} master bwbr0`);
      ipIn(ns, `link set ${t.ifname} up`);
    }
    const a = createStack({ driver: ta, address: '10.77.23.1/24', vlan: VID });
    const seen = watchingUdp(tb);
    const b = createStack({ driver: seen, address: '10.77.23.2/24', vlan: VID });
    return { a, b, seen, close: async () => void (await Promise.all([a.close(), b.close()])) };
  }

  /** Send `data` from `from` to a server on `to`, resolving with what arrived (bytes and SHA-256). */
  function transfer(from: Stack, to: Stack, toIp: string, port: number): Promise<{ bytes: number; sha256: string }> {
    return new Promise((resolve, reject) => {
      const hash = createHash('sha256');
      let bytes = 0;
      const timer = setTimeout(() => reject(new Error(`only ${bytes} bytes arrived in 30 s`)), 30_000);
      const srv = to.net.createServer((s) => {
        s.on('data', (d: Uint8Array) => {
          hash.update(d);
          bytes += d.length;
        });
        s.on('end', () => {
          clearTimeout(timer);
          srv.close();
          resolve({ bytes, sha256: hash.digest('hex') });
        });
        s.on('error', reject);
      });
      srv.listen(port, () => {
        const c = from.net.createConnection({ host: toIp, port }, () => c.end(data));
        c.on('error', reject);
      });
    });
  }

  it('UDP datagrams with offloaded checksums arrive finished (not zero) at a stack that verifies them', async () => {
    const { a, b, seen, close } = open();
    try {
      const got: string[] = [];
      const rx = b.dgram.createSocket('udp4');
      rx.on('message', (m: Buffer) => got.push(m.toString()));
      await new Promise<void>((r) => rx.bind(7010, r));
      const tx = a.dgram.createSocket('udp4');
      for (let i = 0; i < 20 && got.length < 5; i++) {
        tx.send(Buffer.from(`datagram ${i}`), 7010, '10.77.23.2');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(got.length).toBeGreaterThanOrEqual(5);
      expect(b.core.stats.udp.badChecksum).toBe(0);
      expect(seen.udpChecksums.length).toBeGreaterThanOrEqual(5);
      expect(seen.udpChecksums.filter((c) => c === 0)).toEqual([]);
      tx.close();
      rx.close();
    } finally {
      await close();
    }
  }, 30_000);

  it('8 MiB from the offloading stack in tagged TSO packets, cut and finished by the kernel (SHA-256)', async () => {
    const { a, b, close } = open();
    try {
      const r = await transfer(a, b, '10.77.23.2', 7011);
      expect(r.bytes).toBe(data.length);
      expect(r.sha256).toBe(sha);
      expect(a.core.stats.ipv4.tsoPackets).toBeGreaterThan(100);
      expect(b.core.stats.tcp!.badChecksum).toBe(0);
    } finally {
      await close();
    }
  }, 40_000);

  it('8 MiB to the offloading stack over the VLAN (SHA-256)', async () => {
    const { a, b, close } = open();
    try {
      const r = await transfer(b, a, '10.77.23.1', 7012);
      expect(r.bytes).toBe(data.length);
      expect(r.sha256).toBe(sha);
      expect(a.core.stats.tcp!.badChecksum).toBe(0);
      expect(b.core.stats.tcp!.badChecksum).toBe(0);
    } finally {
      await close();
    }
  }, 40_000);
});
