/**
 * Issue #13's fault mix over a real veth pair (root): two byway stacks on AF_PACKET, one in each of two fresh
 * namespaces, the fault middleware on both with bench/fault-mix.ts's configuration; per seed one transfer A -> B
 * through the API, bounded to 90 s. Prints per seed the time (real, ms), whether each side's neighbour entry for
 * the other still holds the right MAC at the end, frames not for us, negative-advice requests and RTOs. The
 * namespaces (bwfmA, bwfmB) are deleted at the end.
 *
 *   node --import tsx bench/fault-mix-veth.ts [seeds, e.g. 1,2,3] [bytes]
 */
import { execFileSync } from 'node:child_process';
import { createStack } from '../src/index.js';
import { openAfPacket } from '../drivers/af-packet/index.js';
import { faults } from '../drivers/middleware/faults.js';

const ip = (...a: string[]): string => execFileSync('ip', a, { stdio: 'pipe' }).toString();
const seeds = (process.argv[2] ?? '1,2,3').split(',').map(Number);
const size = Number(process.argv[3] ?? 2_000_000);
const hex = (m: Uint8Array | undefined): string | undefined => (m === undefined ? undefined : Buffer.from(m).toString('hex'));
const dropNs = (): void => {
  for (const n of ['bwfmA', 'bwfmB']) {
    try {
      ip('netns', 'del', n);
    } catch {
      // not there
    }
  }
};
dropNs();
ip('netns', 'add', 'bwfmA');
ip('netns', 'add', 'bwfmB');
try {
  ip('link', 'add', 'bwfma0', 'netns', 'bwfmA', 'type', 'veth', 'peer', 'name', 'bwfmb0', 'netns', 'bwfmB');
  ip('-n', 'bwfmA', 'link', 'set', 'bwfma0', 'up');
  ip('-n', 'bwfmB', 'link', 'set', 'bwfmb0', 'up');
  for (const seed of seeds) {
    const txA = { loss: 0.05, reorder: 0.2, duplicate: 0.05, corrupt: 0.02, delayMs: 1, jitterMs: 2 };
    const da = faults(openAfPacket({ ifname: 'bwfma0', netns: 'bwfmA', ipv4: '10.79.1.1' }), { seed, tx: txA, rx: { loss: 0.03, corrupt: 0.02 } });
    const db = faults(openAfPacket({ ifname: 'bwfmb0', netns: 'bwfmB', ipv4: '10.79.1.2' }), { seed: seed + 1000, tx: { loss: 0.05, reorder: 0.2 }, rx: { duplicate: 0.05 } });
    const a = createStack({ driver: da, address: '10.79.1.1/24' });
    const b = createStack({ driver: db, address: '10.79.1.2/24' });
    let got = 0;
    const t0 = Date.now();
    const done = new Promise<void>((resolve) => {
      const srv = b.net.createServer((s) => {
        s.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= size) resolve();
        });
        s.on('error', () => undefined);
      });
      srv.listen(80, () => {
        const c = a.net.connect(80, '10.79.1.2', () => c.end(Buffer.alloc(size)));
        c.on('error', () => undefined);
      });
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, 90_000)))]);
    clearTimeout(timer);
    const ms = Date.now() - t0;
    const bEntry = b.core.neighbours.entriesSnapshot().find((e) => e.ip === 0x0a4f0101);
    const aEntry = a.core.neighbours.entriesSnapshot().find((e) => e.ip === 0x0a4f0102);
    console.log(
      JSON.stringify({
        seed,
        ms,
        got,
        bHoldsAsMac: hex(bEntry?.mac) === hex(a.core.mac),
        aHoldsBsMac: hex(aEntry?.mac) === hex(b.core.mac),
        notForUsA: a.stats.ethernet.notForUs,
        notForUsB: b.stats.ethernet.notForUs,
        advisedA: a.stats.arp.neighbour.advised,
        advisedB: b.stats.arp.neighbour.advised,
        rtos: a.stats.tcp!.rtoExpirations,
      }),
    );
    a.close();
    b.close();
  }
} finally {
  dropNs();
}
process.exit(0);
