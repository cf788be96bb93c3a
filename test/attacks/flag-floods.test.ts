/**
 * Floods of segments with odd flag combinations (hping3 --flood, kernel namespace) at a closed port, at a
 * listening port, and at the 4-tuple of an established connection, while a legitimate curl client keeps
 * fetching. Each flood checks what the stack's counters say it did with the segments:
 *
 *   closed port   everything but a RST is answered with a RST (RFC 9293 3.10.7.1), counted in noSocket/rstsSent;
 *                 a RST is dropped.
 *   listener      ACKs are checked as SYN cookies (synCookiesFailed) and answered with a RST; RSTs and segments
 *                 with neither SYN nor ACK (FIN/PSH/URG, ECE/CWR) are dropped (RFC 9293 3.10.7.2).
 *   established   RSTs with arbitrary sequence numbers, SYNs and ACKs never reset the connection, challenge ACKs
 *                 stay under challengeAckLimit per second (RFC 5961 7), and the connection still echoes; a SYN
 *                 flood there draws rate-limited challenge ACKs and an ACK flood a few throttled ACKs, not one
 *                 answer per segment (until 5f632d3 byway answered each with an ACK).
 */
import { afterEach, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describePrivileged } from '../helpers/netns.js';
import { CLOSED_PORT, ECHO_PORT, flatStats, holdConnection, hping, HTTP_PORT, legitLoop, memoryProbe, haveAttackTools, stopLegit, oneGet, sampler, show, startLab, statsDelta, drain, type AttackLab, type HeldConnection, type LegitResult, HEAP_BOUND_MIB } from './lab.js';

const FLOOD_S = 2;
const CHALLENGE_ACK_LIMIT = 100;
const LIMITS = { tcp: { synQueueLimit: 32, maxConnections: 256, challengeAckLimit: CHALLENGE_ACK_LIMIT } };
const HELD_PORT = 40000;
const MIN_LEGIT = 3;

const FLAGS: Record<string, string[]> = { 'FIN+PSH+URG': ['-F', '-P', '-U'], 'ECE+CWR (-X -Y)': ['-X', '-Y'], ACK: ['-A'], RST: ['-R'] };

describePrivileged('attacks: random-flag floods (hping3)', () => {
  if (!haveAttackTools()) return;
  let lab: AttackLab | undefined;
  let held: HeldConnection | undefined;
  let stopFile: string | undefined;
  let legitP: Promise<unknown> | undefined;
  afterEach(async () => {
    // The client loop and the held connection end before teardown checks for leftover fds (their pipes).
    await stopLegit(stopFile, legitP);
    await held?.stop();
    held = undefined;
    legitP = undefined;
    const problems = lab ? await lab.close() : [];
    lab = undefined;
    expect(problems).toEqual([]);
  });

  it('closed port and listener: answered or dropped as counted; the client and a held connection keep working', async () => {
    lab = await startLab(LIMITS);
    const { t, stack } = lab;
    expect(await oneGet(t.kernelNs, lab.url)).toBe(true);
    held = holdConnection(t.kernelNs, t.bywayAddr, ECHO_PORT, HELD_PORT);
    await held.ready;
    expect(await held.echo('before')).toBe('got before');

    stopFile = join(tmpdir(), `byway-attacks-stop-${process.pid}-${Date.now()}`);
    legitP = legitLoop(t.kernelNs, lab.url, 120, stopFile);
    const mem = sampler(memoryProbe(stack));
    const lines: string[] = [];
    const flood = async (what: string, args: string[]): Promise<{ d: Record<string, number>; sent: number; ms: number }> => {
      await drain(lab!);
      const s0 = flatStats(stack);
      const r = await hping(t.kernelNs, ['--flood', ...args, t.bywayAddr], FLOOD_S);
      await drain(lab!);
      const d = statsDelta(s0, flatStats(stack));
      expect(r.sent, `${what}: hping3 said ${r.stdout} ${r.stderr}`).toBeGreaterThan(100);
      lines.push(`${what.padEnd(34)} ${r.ms.toFixed(0)} ms sent ${String(r.sent).padStart(7)}  ${show(d, ['tcp.segsIn', 'tcp.noSocket', 'tcp.rstsSent', 'tcp.synCookiesFailed', 'tcp.outOfWindow', 'tcp.badAck', 'tcp.challengeAcksSent', 'tcp.challengeAcksRateLimited', 'tcp.resets'])}`);
      console.log(lines.at(-1));
      return { d, sent: r.sent, ms: r.ms };
    };

    for (const [name, flags] of Object.entries(FLAGS)) {
      const { d } = await flood(`closed port, ${name}`, [...flags, '-p', String(CLOSED_PORT)]);
      expect(d['tcp.noSocket'] ?? 0).toBeGreaterThan(100);
      // A RST is never answered. (The legitimate client's own traffic could in principle draw a stray RST, e.g. a
      // late segment after a close; a handful is tolerated, against 10^5 flood segments.)
      if (name === 'RST') expect(d['tcp.rstsSent'] ?? 0).toBeLessThanOrEqual(10);
      else {
        expect(d['tcp.rstsSent'] ?? 0).toBeGreaterThan(0);
        expect(d['tcp.rstsSent'] ?? 0).toBeLessThanOrEqual(d['tcp.noSocket'] ?? 0);
      }
    }
    for (const [name, flags] of Object.entries(FLAGS)) {
      const { d } = await flood(`listener, ${name}`, [...flags, '-p', String(HTTP_PORT)]);
      expect(d['tcp.segsIn'] ?? 0).toBeGreaterThan(100);
      expect(d['tcp.noSocket'] ?? 0).toBe(0);
      if (name === 'ACK') {
        expect(d['tcp.synCookiesFailed'] ?? 0).toBeGreaterThan(100);
        expect(d['tcp.rstsSent'] ?? 0).toBeGreaterThan(0);
      } else expect(d['tcp.rstsSent'] ?? 0).toBeLessThanOrEqual(10); // dropped, not answered (see above)
    }
    writeFileSync(stopFile, '');
    const legit = (await legitP) as LegitResult;
    const max = mem.stop();
    console.log(`flag floods (${FLOOD_S} s each, --flood):\n  ${lines.join('\n  ')}\n  legit ${legit.raw}; max ${show(max)}`);
    expect(legit.ok).toBeGreaterThanOrEqual(MIN_LEGIT);
    expect(max.tcpConnections).toBeLessThanOrEqual(LIMITS.tcp.synQueueLimit + 16 + 16);
    expect(max.heapMiB).toBeLessThan(HEAP_BOUND_MIB);
    expect(await held.echo('after')).toBe('got after');
    expect(await oneGet(t.kernelNs, lab.url)).toBe(true);
  }, 180_000);

  /** Floods aimed at the held connection's 4-tuple; returns the deltas per flood. */
  async function floodEstablished(which: Record<string, string[]>): Promise<Array<{ name: string; d: Record<string, number>; ms: number }>> {
    lab = await startLab(LIMITS);
    const { t, stack } = lab;
    held = holdConnection(t.kernelNs, t.bywayAddr, ECHO_PORT, HELD_PORT);
    await held.ready;
    expect(await held.echo('before')).toBe('got before');
    const out: Array<{ name: string; d: Record<string, number>; ms: number }> = [];
    for (const [name, flags] of Object.entries(which)) {
      await drain(lab!);
      const s0 = flatStats(stack);
      const r = await hping(t.kernelNs, ['--flood', ...flags, '-s', String(HELD_PORT), '-k', '-p', String(ECHO_PORT), t.bywayAddr], FLOOD_S);
      await drain(lab!);
      const d = statsDelta(s0, flatStats(stack));
      console.log(`established 4-tuple, ${name.padEnd(16)} ${r.ms.toFixed(0)} ms sent ${r.sent}  ${show(d, ['tcp.segsIn', 'tcp.outOfWindow', 'tcp.badAck', 'tcp.challengeAcksSent', 'tcp.challengeAcksRateLimited', 'tcp.resets', 'tcp.segsOut', 'ethernet.tx'])}`);
      expect(r.sent, `hping3 said ${r.stdout} ${r.stderr}`).toBeGreaterThan(100);
      out.push({ name, d, ms: r.ms });
    }
    return out;
  }

  it('established connection: RSTs with arbitrary sequence numbers, SYNs and ACKs do not reset it; challenge ACKs stay under the limit', async () => {
    const runs = await floodEstablished({ 'RST, random seq': ['-R'], SYN: ['-S'], 'ACK, random ack': ['-A'] });
    for (const { d, ms } of runs) {
      expect(d['tcp.segsIn'] ?? 0).toBeGreaterThan(100);
      expect(d['tcp.resets'] ?? 0).toBe(0);
      // RFC 5961 7: at most challengeAckLimit per second (a fresh budget each second of the flood, + 1 window).
      expect(d['tcp.challengeAcksSent'] ?? 0).toBeLessThanOrEqual(CHALLENGE_ACK_LIMIT * (Math.ceil(ms / 1000) + 1));
    }
    // An out-of-window RST is dropped without a reply (RFC 5961 3.2).
    expect(runs[0]!.d['tcp.segsOut'] ?? 0).toBeLessThan(100);
    // Any SYN on a synchronized connection asks for a challenge ACK (RFC 5961 4.2): the limit engages.
    expect(runs[1]!.d['tcp.challengeAcksSent'] ?? 0).toBeGreaterThan(0);
    expect(runs[1]!.d['tcp.challengeAcksRateLimited'] ?? 0).toBeGreaterThan(0);
    // Out-of-window pure ACKs: duplicate ACKs throttled per connection, far fewer answers than segments.
    expect(runs[2]!.d['tcp.segsOut'] ?? 0).toBeLessThan((runs[2]!.d['tcp.segsIn'] ?? 0) / 100);
    expect(await held!.echo('after')).toBe('got after');
    expect(lab!.stack.connections().some((c) => c.remotePort === HELD_PORT && c.state === 'ESTABLISHED')).toBe(true);
  }, 120_000);

  // Was a known bug: an out-of-window segment on a synchronized connection was answered with an immediate ACK
  // every time, so a SYN flood at an established 4-tuple made byway send one ACK per SYN. RFC 5961 4.2 asks for a
  // challenge ACK for any SYN irrespective of its sequence number, and section 7 for limiting them; duplicate ACKs
  // for other out-of-window pure ACKs are throttled per connection (invalidAckIntervalMs, like tcp_invalid_ratelimit).
  it('established connection: out-of-window SYNs get rate-limited answers (RFC 5961 4.2, 7)', async () => {
    const [run] = await floodEstablished({ SYN: ['-S'] });
    const { d, ms } = run!;
    expect(d['tcp.segsIn'] ?? 0).toBeGreaterThan(1000);
    expect(d['tcp.segsOut'] ?? 0).toBeLessThanOrEqual(CHALLENGE_ACK_LIMIT * (Math.ceil(ms / 1000) + 1) + 50);
  }, 120_000);
});
