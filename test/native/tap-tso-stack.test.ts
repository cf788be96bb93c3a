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
import { RxFlag, type FrameDriver } from '../../drivers/types.js';
import { NetLab, describePrivileged, execInAsync, ipIn, uniqueName } from '../helpers/netns.js';

/** Counts what the TAP hands up: frames above the MTU, and frames the device vouched for. */
function counting(inner: FrameDriver): FrameDriver & { big: number; vouched: number; maxLen: number } {
  const c = {
    big: 0,
    vouched: 0,
    maxLen: 0,
    get caps() {
      return inner.caps;
    },
    hwAddress: inner.hwAddress,
    stats: inner.stats,
    receive: (now: number, max: number, sink: (f: Uint8Array, flags?: number) => void) =>
      inner.receive(now, max, (frame, flags) => {
        if (frame.length > 1514) c.big++;
        if (frame.length > c.maxLen) c.maxLen = frame.length;
        if (flags !== undefined && (flags & RxFlag.L4ChecksumValid) !== 0) c.vouched++;
        sink(frame, flags);
      }),
    txReserve: (len: number) => inner.txReserve(len),
    txCommit: (now: number, len: number, segment?: number) => (segment === undefined ? inner.txCommit(now, len) : inner.txCommit(now, len, segment)),
    flush: (now: number) => inner.flush(now),
    pollAt: (now: number) => inner.pollAt?.(now),
    setReadyCallback: (cb: (() => void) | null) => inner.setReadyCallback(cb),
    close: () => inner.close(),
  };
  return c;
}

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
    return { tap, driver, stack };
  }

  it('sends 8 MiB to the kernel in TSO packets (SHA-256 checked by the kernel side)', async () => {
    const { driver, stack } = open();
    try {
      expect(driver.caps.tso?.maxBytes).toBe(65535);
      const sink = execInAsync(ns, 'bash', ['-c', 'socat -u TCP-LISTEN:7001,reuseaddr - | sha256sum'], { timeoutMs: 30_000 });
      // Wait until socat listens (bounded): connect attempts are refused until then.
      let sock;
      for (let i = 0; ; i++) {
        sock = stack.net.connect({ host: '10.77.21.1', port: 7001 });
        const ok = await new Promise<boolean>((resolve) => {
          sock!.once('connect', () => resolve(true));
          sock!.once('error', () => resolve(false));
        });
        if (ok) break;
        if (i > 100) throw new Error('socat never listened');
        await new Promise((r) => setTimeout(r, 20));
      }
      sock.end(data);
      const r = await sink;
      expect(r.timedOut).toBe(false);
      expect(r.stdout.split(' ')[0]).toBe(sha);
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
      const hash = createHash('sha256');
      let bytes = 0;
      const done = new Promise<void>((resolve, reject) => {
        const srv = stack.net.createServer((s) => {
          s.on('data', (d: Uint8Array) => {
            hash.update(d);
            bytes += d.length;
          });
          s.on('end', () => resolve());
          s.on('error', reject);
        });
        srv.listen(7002);
      });
      const src = execInAsync(ns, 'socat', ['-u', `FILE:${join(dir, 'data')}`, 'TCP:10.77.21.2:7002'], { timeoutMs: 30_000 });
      await done;
      const r = await src;
      expect(r.code).toBe(0);
      expect(bytes).toBe(data.length);
      expect(hash.digest('hex')).toBe(sha);
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
