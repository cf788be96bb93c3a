/**
 * AF_PACKET receiving from a kernel TCP sender with the veth's default offloads (TSO/GSO and tx checksum offload
 * on): the kernel hands the packet socket its 64 KiB GSO packets whole, with CHECKSUM_PARTIAL sums. On both
 * TPACKET versions, with and without PACKET_VNET_HDR (`tso`), the default rings must hold them (no rxTruncated),
 * the checksums must be vouched for (RxFlag.L4ChecksumValid, no bad checksum counted) and 8 MiB must arrive
 * intact (SHA-256).
 *
 * byway owns 10.77.33.2 on vethA (namespace A, no kernel address there); the kernel owns 10.77.33.1 on vethB.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStack } from '../../src/index.js';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { NetLab, describePrivileged, execIn } from '../helpers/netns.js';
import { counting, takeFromKernel } from './tso-lab.js';

describePrivileged('AF_PACKET with the kernel sender\'s default offloads (64 KiB GSO packets, partial checksums)', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let link = { a: '', b: '' };
  let dir = '';
  const data = randomBytes(8 << 20);
  const sha = createHash('sha256').update(data).digest('hex');

  beforeAll(() => {
    nsA = lab.addNetns('bwpg-');
    nsB = lab.addNetns('bwpg-');
    link = lab.addVeth(nsA, nsB, { addrB: '10.77.33.1/24', txChecksumOffload: true }); // the defaults, untouched
    dir = mkdtempSync(join(tmpdir(), 'bwpg-'));
    writeFileSync(join(dir, 'data'), data);
  });
  afterAll(async () => {
    await lab.stopProcesses(500);
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the sender really has TSO and checksum offload on', () => {
    const k = execIn(nsB, 'ethtool', ['-k', link.b]);
    expect(k).toMatch(/tcp-segmentation-offload: on/);
    expect(k).toMatch(/tx-checksumming: on/);
  });

  let port = 7300;
  for (const version of [2, 3] as const) {
    for (const tso of [false, true]) {
      it(`TPACKET_V${version}${tso ? ' with PACKET_VNET_HDR' : ''}: 8 MiB from the kernel in whole GSO packets (SHA-256 checked)`, async () => {
        const raw = openAfPacket({ ifname: link.a, netns: nsA, ipv4: '10.77.33.2', tpacketVersion: version, tso });
        expect(raw.caps.rxMaxPacket).toBe(65535);
        const driver = counting(raw);
        const stack = createStack({ driver, address: '10.77.33.2/24' });
        try {
          const r = await takeFromKernel(stack, nsB, '10.77.33.2', port++, join(dir, 'data'));
          expect(r.socat.code).toBe(0);
          expect(r.bytes).toBe(data.length);
          expect(r.sha256).toBe(sha);
          // The kernel's TCP sent packets above the MTU, the ring held them whole, and their partial checksums
          // were vouched for rather than failed.
          expect(driver.big).toBeGreaterThan(10);
          expect(driver.maxLen).toBeGreaterThan(9000);
          expect(raw.rxTruncated).toBe(0);
          expect(driver.vouched).toBeGreaterThanOrEqual(driver.big);
          expect(stack.core.stats.tcp!.badChecksum).toBe(0);
          expect(stack.core.stats.ipv4.truncated).toBe(0);
        } finally {
          await stack.close();
        }
      }, 40_000);
    }
  }
});
