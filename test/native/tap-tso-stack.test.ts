/**
 * The whole stack over a TAP with TCP segmentation offload negotiated (openTap({ tso: true })), against the
 * kernel's TCP on the TAP's own side: byway sends 64 KiB packets that the kernel cuts, and takes the 64 KiB GSO
 * packets the kernel hands it, with their checksums vouched for by the device (RxFlag). Both directions are
 * checked by SHA-256 of 8 MiB, and by counters that show the large packets really went both ways.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStack } from '../../src/index.js';
import { openTap } from '../../drivers/tap/index.js';
import { NetLab, describePrivileged, ipIn, uniqueName } from '../helpers/netns.js';
import { counting, sendToKernel, takeFromKernel } from './tso-lab.js';

describePrivileged('the stack over a TAP with TCP segmentation offload', () => {
  const lab = new NetLab();
  let ns = '';
  let dir = '';
  const data = randomBytes(8 << 20);
  const sha = createHash('sha256').update(data).digest('hex');
  beforeAll(() => {
    ns = lab.addNetns();
    dir = mkdtempSync(join(tmpdir(), 'bwtso-'));
    writeFileSync(join(dir, 'data'), data);
  });
  afterAll(() => {
    lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  function open() {
    const tap = openTap({ name: uniqueName('bwts'), netns: ns, tso: true });
    ipIn(ns, `addr add 10.77.21.1/24 dev ${tap.ifname}`);
    const driver = counting(tap);
    const stack = createStack({ driver, address: '10.77.21.2/24' });
    return { driver, stack };
  }

  it('sends 8 MiB to the kernel in TSO packets (SHA-256 checked by the kernel side)', async () => {
    const { driver, stack } = open();
    try {
      expect(driver.caps.tso?.maxBytes).toBe(65535);
      const r = await sendToKernel(stack, ns, '10.77.21.2', 7001, data);
      expect(r.timedOut).toBe(false);
      expect(r.sha256).toBe(sha);
      const ip = stack.core.stats.ipv4;
      // Most of 8 MiB went as packets the kernel cut: at least 8 MiB / 64 KiB of them.
      expect(ip.tsoPackets).toBeGreaterThan(100);
      expect(ip.tx).toBeLessThan((8 << 20) / 1448 / 4);
    } finally {
      await stack.close();
    }
  }, 40_000);

  it('takes 8 MiB from the kernel in GSO packets the device vouches for (SHA-256 checked)', async () => {
    const { driver, stack } = open();
    try {
      const r = await takeFromKernel(stack, ns, '10.77.21.2', 7002, join(dir, 'data'));
      expect(r.socat.code).toBe(0);
      expect(r.bytes).toBe(data.length);
      expect(r.sha256).toBe(sha);
      // The kernel's TCP built packets above the MTU for the TSO device, and marked their checksums partial.
      expect(driver.big).toBeGreaterThan(10);
      expect(driver.maxLen).toBeGreaterThan(9000);
      expect(driver.vouched).toBeGreaterThan(driver.big);
      expect(stack.core.stats.tcp!.badChecksum).toBe(0);
    } finally {
      await stack.close();
    }
  }, 40_000);
});
