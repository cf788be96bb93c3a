/**
 * Issue #13's fault mix between two byway stacks over a real link (bench/fault-mix-veth.ts: AF_PACKET over a veth
 * pair; bench/fault-mix-tap.ts: two TAPs on a bridge). The fault middleware goes on both drivers with the issue's
 * configuration (A: seed, B: seed + 1000 unless told otherwise); per seed one transfer A -> B through the API, bounded in real time.
 * Prints one JSON line per seed: time (real, ms), bytes received, whether each side's neighbour entry for the other
 * still holds the right MAC at the end, frames not for us, negative-advice requests, and A's RTOs, retransmitted
 * segments and fast recoveries.
 */
import { createStack } from '../../src/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { faults } from '../../drivers/middleware/faults.js';

/** The configuration, A's side. */
export const FAULTS_A = { tx: { loss: 0.05, reorder: 0.2, duplicate: 0.05, corrupt: 0.02, delayMs: 1, jitterMs: 2 }, rx: { loss: 0.03, corrupt: 0.02 } };
/** The configuration, B's side. */
export const FAULTS_B = { tx: { loss: 0.05, reorder: 0.2 }, rx: { duplicate: 0.05 } };

export interface FaultMixRun {
  /** Open the two raw drivers for one seed (fresh each seed). A is 10.79.1.1, B 10.79.1.2, on one /24. */
  readonly open: () => { a: FrameDriver; b: FrameDriver };
  readonly seeds: readonly number[];
  readonly size: number;
  readonly boundMs: number;
  /** B's seed is seed + bSeedOffset (default 1000; 0 gives both sides the same seed). */
  readonly bSeedOffset?: number;
}

const hex = (m: Uint8Array | undefined): string | undefined => (m === undefined ? undefined : Buffer.from(m).toString('hex'));

export async function runFaultMix(run: FaultMixRun): Promise<void> {
  for (const seed of run.seeds) {
    const raw = run.open();
    const a = createStack({ driver: faults(raw.a, { seed, ...FAULTS_A }), address: '10.79.1.1/24' });
    const b = createStack({ driver: faults(raw.b, { seed: seed + (run.bSeedOffset ?? 1000), ...FAULTS_B }), address: '10.79.1.2/24' });
    let got = 0;
    const t0 = Date.now();
    let trace: ReturnType<typeof setInterval> | undefined;
    // FAULT_MIX_TRACE=1: once a second, the bytes received, whether each cache holds the right MAC, and A's RTO state.
    const traceLine = (i: { rto: number; backoff: number; cwnd: number; unacked: number } | undefined): void => {
      const bE = b.core.neighbours.entriesSnapshot().find((e) => e.ip === 0x0a4f0101);
      const aE = a.core.neighbours.entriesSnapshot().find((e) => e.ip === 0x0a4f0102);
      const ok = (e: { mac?: Uint8Array } | undefined, m: Uint8Array): string => (e === undefined ? 'none' : hex(e.mac) === hex(m) ? 'ok' : `WRONG ${hex(e.mac)} want ${hex(m)}`);
      console.error(
        JSON.stringify({ t: Date.now() - t0, got, aCache: ok(aE, b.core.mac), bCache: ok(bE, a.core.mac), rtos: a.stats.tcp!.rtoExpirations, rto: i?.rto, backoff: i?.backoff, cwnd: i?.cwnd, unacked: i?.unacked, advisedA: a.stats.arp.neighbour.advised, notForUsA: a.stats.ethernet.notForUs, notForUsB: b.stats.ethernet.notForUs }),
      );
    };
    const done = new Promise<void>((resolve) => {
      const srv = b.net.createServer((s) => {
        s.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= run.size) resolve();
        });
        s.on('error', () => undefined);
      });
      srv.listen(80, () => {
        const c = a.net.connect(80, '10.79.1.2', () => c.end(Buffer.alloc(run.size)));
        c.on('error', () => undefined);
        if (process.env['FAULT_MIX_TRACE']) trace = setInterval(() => traceLine('tcpInfo' in c ? c.tcpInfo : undefined), 1000);
      });
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, run.boundMs)))]);
    clearTimeout(timer);
    clearInterval(trace);
    const ms = Date.now() - t0;
    const bEntry = b.core.neighbours.entriesSnapshot().find((e) => e.ip === 0x0a4f0101);
    const aEntry = a.core.neighbours.entriesSnapshot().find((e) => e.ip === 0x0a4f0102);
    const tcp = a.stats.tcp!;
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
        rtos: tcp.rtoExpirations,
        retrans: tcp.retransmittedSegs,
        fastRec: tcp.fastRecoveries,
      }),
    );
    await Promise.all([a.close(), b.close()]);
  }
}
