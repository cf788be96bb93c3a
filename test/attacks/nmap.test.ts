/**
 * nmap from the kernel namespace against byway: a SYN scan of ports 1-1024 (`-sS`) must finish and report
 * exactly byway's listeners (echo on 7, node:http on 80) as open and every other port as closed (answered with a
 * RST, not filtered); OS detection (`-O`), with its odd probes (no-flag, SYN+FIN+PSH+URG, ACK to open and closed
 * ports, ECN SYN, a UDP probe to a closed port, ICMP echo with odd codes), must finish too. During both a
 * legitimate curl client keeps fetching, and afterwards the stack still serves and its counters show the scan.
 */
import { afterEach, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describePrivileged, execInAsync, requirePrivileged } from '../helpers/netns.js';
import { ECHO_PORT, flatStats, HTTP_PORT, legitLoop, memoryProbe, missingAttackTools, oneGet, sampler, show, startLab, statsDelta, type AttackLab, type LegitResult } from './lab.js';

const LIMITS = { tcp: { synQueueLimit: 32, maxConnections: 256 } };
const SHOWN = ['tcp.segsIn', 'tcp.noSocket', 'tcp.rstsSent', 'tcp.passiveOpens', 'tcp.synCookiesSent', 'tcp.synCookiesFailed', 'tcp.outOfWindow', 'tcp.resets', 'tcp.rstsReceived', 'udp.noPort', 'icmp.echoRequests', 'icmp.echoRepliesSent', 'icmp.errorsSent', 'icmp.rateLimited', 'icmp.otherTypes'];

/** Ports nmap's grepable output (-oG) lists with their state, and the "Ignored State" summary. */
function parseGrepable(out: string): { ports: Map<number, string>; ignored: { state: string; count: number } | undefined } {
  const ports = new Map<number, string>();
  const line = /Ports: ([^\t\n]*)/.exec(out)?.[1] ?? '';
  for (const entry of line.split(', ')) {
    const m = /^(\d+)\/([a-z|]+)\//.exec(entry.trim());
    if (m) ports.set(Number(m[1]), m[2]!);
  }
  const ig = /Ignored State: ([a-z|]+) \((\d+)\)/.exec(out);
  return { ports, ignored: ig ? { state: ig[1]!, count: Number(ig[2]) } : undefined };
}

describePrivileged('attacks: nmap scans', () => {
  const missing = missingAttackTools();
  if (missing.length) {
    (requirePrivileged ? it : it.skip)(`has the tools it needs: missing ${missing.join(', ')} (see .ci/run)`, () => {
      throw new Error(`missing tools: ${missing.join(', ')}`);
    });
    return;
  }
  let lab: AttackLab | undefined;
  let stopFile: string | undefined;
  let legitP: Promise<LegitResult> | undefined;
  afterEach(async () => {
    if (stopFile) writeFileSync(stopFile, '');
    await legitP?.catch(() => {});
    if (stopFile) rmSync(stopFile, { force: true });
    legitP = undefined;
    const problems = lab ? await lab.close() : [];
    lab = undefined;
    expect(problems).toEqual([]);
  });

  it('SYN scan of 1-1024 reports the listeners open and the rest closed; OS detection finishes; the client keeps working', async () => {
    lab = await startLab(LIMITS);
    const { t, stack } = lab;
    expect(await oneGet(t.kernelNs, lab.url)).toBe(true);
    stopFile = join(tmpdir(), `byway-attacks-nmap-stop-${process.pid}-${Date.now()}`);
    legitP = legitLoop(t.kernelNs, lab.url, 200, stopFile);
    const mem = sampler(memoryProbe(stack));

    let s0 = flatStats(stack);
    const scan = await execInAsync(t.kernelNs, 'nmap', ['-sS', '-p', '1-1024', '-T4', '-n', '-Pn', '-oG', '-', t.bywayAddr], { timeoutMs: 120_000 });
    const dScan = statsDelta(s0, flatStats(stack));
    const parsed = parseGrepable(scan.stdout);
    console.log(`nmap -sS -p 1-1024 -T4: ${(scan.ms / 1000).toFixed(1)} s, exit ${scan.code}; open ${[...parsed.ports].filter(([, s]) => s === 'open').map(([p]) => p).join(',')}; ignored ${JSON.stringify(parsed.ignored)}\n  ${show(dScan, SHOWN)}`);

    s0 = flatStats(stack);
    const os = await execInAsync(t.kernelNs, 'nmap', ['-O', '-p', '1-1024', '-T4', '-n', '-Pn', '--max-os-tries', '2', t.bywayAddr], { timeoutMs: 180_000 });
    const dOs = statsDelta(s0, flatStats(stack));
    const osLines = os.stdout.split('\n').filter((l) => /OS details|Aggressive OS|No exact OS|Too many fingerprints|Running|OS guesses|Device type|Nmap done|TCP\/IP fingerprint|^OS:/.test(l));
    console.log(`nmap -O -p 1-1024 -T4: ${(os.ms / 1000).toFixed(1)} s, exit ${os.code}\n  ${osLines.join('\n  ')}\n  ${show(dOs, SHOWN)}`);

    writeFileSync(stopFile, '');
    const legit = await legitP;
    const max = mem.stop();
    console.log(`nmap: legit ${legit.raw}; max ${show(max)}`);

    expect(scan.code, scan.stderr).toBe(0);
    expect(scan.timedOut).toBe(false);
    const open = [...parsed.ports].filter(([, s]) => s === 'open').map(([p]) => p).sort((a, b) => a - b);
    expect(open).toEqual([ECHO_PORT, HTTP_PORT]);
    // Every other port answered with a RST: closed, none filtered (nmap lists non-ignored ports individually).
    const closedListed = [...parsed.ports].filter(([, s]) => s === 'closed').length;
    const closedCount = closedListed + (parsed.ignored?.state === 'closed' ? parsed.ignored.count : 0);
    expect([...parsed.ports].filter(([, s]) => s !== 'open' && s !== 'closed')).toEqual([]);
    expect(closedCount).toBe(1024 - 2);
    expect(dScan['tcp.noSocket'] ?? 0).toBeGreaterThanOrEqual(1022);
    expect(dScan['tcp.rstsSent'] ?? 0).toBeGreaterThanOrEqual(1022);

    expect(os.code, os.stderr).toBe(0);
    expect(os.stdout).toMatch(/Nmap done: 1 IP address \(1 host up\)/);
    expect(os.stdout).toMatch(/^80\/tcp\s+open/m);
    expect(dOs['tcp.segsIn'] ?? 0).toBeGreaterThan(1022);

    expect(legit.ok).toBeGreaterThanOrEqual(3);
    expect(max.tcpConnections).toBeLessThanOrEqual(LIMITS.tcp.synQueueLimit + 511 + 16);
    expect(await oneGet(t.kernelNs, lab.url)).toBe(true);
  }, 360_000);
});
