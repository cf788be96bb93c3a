/**
 * IPv4 fragment floods (hping3, kernel namespace) against a stack with a small reassembly budget, while a
 * legitimate curl client keeps fetching over TCP. The stack's reassembly memory is sampled throughout and must
 * never exceed limits.reassembly.maxBytes (nor the datagram cap); the counters must show why fragments were
 * dropped, and the datagrams left behind must time out.
 *
 *   first fragments   hping3 --udp -x (MF set, offset 0) --rand-source: every packet opens a datagram that never
 *                     completes: memory fills, the oldest are evicted, the rest time out.
 *   -m 256            whole datagrams of 1408 bytes cut at a 256-byte virtual MTU: reassembled (then answered with
 *                     ICMP port unreachable, rate-limited).
 *   -f                the same cut into 16-byte fragments: 88 per datagram, over maxFragments: dropped.
 */
import { afterEach, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describePrivileged } from '../helpers/netns.js';
import { flatStats, hping, legitLoop, memoryProbe, haveAttackTools, stopLegit, oneGet, sampler, show, startLab, statsDelta, drain, type AttackLab, type LegitResult, HEAP_BOUND_MIB } from './lab.js';

const FLOOD_S = 3;
/** maxDatagrams is set above maxBytes / (one 1208-byte first fragment + overhead), so the byte cap is the one that binds. */
const REASSEMBLY = { maxBytes: 64 * 1024, maxDatagrams: 128, maxFragments: 16, timeoutMs: 1000 };
const LIMITS = { reassembly: REASSEMBLY, tcp: { synQueueLimit: 32, maxConnections: 256 } };
const UDP_PORT = 9;
/**
 * The IP ident of the fragmenting floods. Fragmenting, hping3 gives every fragment of every datagram the ident
 * `getpid() & 255` unless told one; for one pid in 256 that is 0, and Linux fills a zero ident of a raw socket's
 * packet (IP_HDRINCL) per packet, so each fragment arrived with its own ident, opened a datagram of its own, and
 * the -f flood showed no datagram over maxFragments (seen once in CI: tooManyFragments 0, 128 one-fragment
 * datagrams evicted in turn).
 */
const FRAG_ID = 0x4242;
const SHOWN = ['ipv4.rx', 'ipv4.reassembly.fragments', 'ipv4.reassembly.reassembled', 'ipv4.reassembly.memoryDrops', 'ipv4.reassembly.evicted', 'ipv4.reassembly.timeouts', 'ipv4.reassembly.tooManyFragments', 'ipv4.reassembly.overlaps', 'ipv4.reassembly.badFragment', 'icmp.errorsSent', 'icmp.rateLimited'];

describePrivileged('attacks: fragment floods (hping3)', () => {
  if (!haveAttackTools()) return;
  let lab: AttackLab | undefined;
  let stopFile: string | undefined;
  let legitP: Promise<LegitResult> | undefined;
  afterEach(async () => {
    await stopLegit(stopFile, legitP);
    legitP = undefined;
    const problems = lab ? await lab.close() : [];
    lab = undefined;
    expect(problems).toEqual([]);
  });

  it('reassembly memory stays under maxBytes; evictions, drops and time-outs are counted; the client keeps working', async () => {
    lab = await startLab(LIMITS);
    const { t, stack } = lab;
    expect(await oneGet(t.kernelNs, lab.url)).toBe(true);
    stopFile = join(tmpdir(), `byway-attacks-frag-stop-${process.pid}-${Date.now()}`);
    legitP = legitLoop(t.kernelNs, lab.url, 200, stopFile);
    const floods: Record<string, string[]> = {
      'first fragments, --rand-source': ['--udp', '-p', String(UDP_PORT), '-x', '-d', '1200', '--rand-source'],
      'whole datagrams, -m 256': ['--udp', '-p', String(UDP_PORT), '-d', '1400', '-m', '256', '-N', String(FRAG_ID)],
      'whole datagrams, -f (16 B)': ['--udp', '-p', String(UDP_PORT), '-d', '1400', '-f', '-N', String(FRAG_ID)],
    };
    const results: Array<{ name: string; d: Record<string, number>; max: ReturnType<ReturnType<typeof memoryProbe>>; sent: number }> = [];
    // Each flood starts from an empty reassembly table: what the previous flood left (datagrams missing a lost
    // fragment) would otherwise hold the byte cap, and every fragment after a datagram's first would be dropped for
    // memory before it could show the per-datagram cap (this made the -f check depend on the previous flood's loss).
    const reassemblyEmpty = async (): Promise<void> => {
      const until = Date.now() + 20_000; // timeoutMs is 1 s; driven by the stack's own timer
      while (stack.core.reassembler.inProgress > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    };
    for (const [name, args] of Object.entries(floods)) {
      await drain(lab);
      await reassemblyEmpty();
      const s0 = flatStats(stack);
      const mem = sampler(memoryProbe(stack), 2);
      const r = await hping(t.kernelNs, ['--flood', ...args, t.bywayAddr], FLOOD_S);
      await drain(lab);
      const max = mem.stop();
      const d = statsDelta(s0, flatStats(stack));
      console.log(`fragments, ${name.padEnd(32)} ${r.ms.toFixed(0)} ms sent ${r.sent}  max ${show(max)} (${mem.samples()} samples)\n  ${show(d, SHOWN)}`);
      expect(r.sent, `hping3 said ${r.stdout} ${r.stderr}`).toBeGreaterThan(100);
      results.push({ name, d, max, sent: r.sent });
    }
    // What is left times out (timeoutMs 1 s): wait for it, bounded, driven by the stack's own timer.
    await reassemblyEmpty();
    writeFileSync(stopFile, '');
    const legit = await legitP;
    const total = stack.stats.ipv4.reassembly;
    console.log(`fragments: legit ${legit.raw}; after: in progress ${stack.core.reassembler.inProgress}, memory ${stack.core.reassembler.memory}; totals ${JSON.stringify(total)}`);

    for (const { max } of results) {
      expect(max.reassemblyBytes).toBeLessThanOrEqual(REASSEMBLY.maxBytes);
      expect(max.heapMiB).toBeLessThan(HEAP_BOUND_MIB);
      expect(max.datagrams).toBeLessThanOrEqual(REASSEMBLY.maxDatagrams);
    }
    const [first, mtu, tiny] = results.map((r) => r.d);
    // Incomplete datagrams from many sources: the byte cap engaged (eviction of the oldest, or drops), memory
    // reached it (within one datagram's charge), and nothing completed.
    expect(first!['ipv4.reassembly.fragments'] ?? 0).toBeGreaterThan(100);
    expect((first!['ipv4.reassembly.evicted'] ?? 0) + (first!['ipv4.reassembly.memoryDrops'] ?? 0)).toBeGreaterThan(0);
    expect(results[0]!.max.reassemblyBytes).toBeGreaterThan(REASSEMBLY.maxBytes - 2 * 1400);
    expect(results[0]!.max.datagrams).toBeLessThan(REASSEMBLY.maxDatagrams);
    expect(first!['ipv4.reassembly.reassembled'] ?? 0).toBe(0);
    // Whole datagrams at a 256-byte MTU are reassembled.
    expect(mtu!['ipv4.reassembly.reassembled'] ?? 0).toBeGreaterThan(10);
    // 88 fragments per datagram is over maxFragments (16).
    expect(tiny!['ipv4.reassembly.tooManyFragments'] ?? 0).toBeGreaterThan(0);
    expect(tiny!['ipv4.reassembly.reassembled'] ?? 0).toBe(0);
    // Everything left over timed out and its memory was released.
    expect(stack.core.reassembler.inProgress).toBe(0);
    expect(stack.core.reassembler.memory).toBe(0);
    expect(total.timeouts).toBeGreaterThan(0);

    expect(legit.ok).toBeGreaterThanOrEqual(3);
    expect(await oneGet(t.kernelNs, lab.url)).toBe(true);
  }, 180_000);
});
