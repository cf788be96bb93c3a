/**
 * The attack tests' lab: the conformance topology (test/conformance/topology.ts, AF_PACKET on a veth pair: the
 * kernel and its attack tools in one namespace, byway in another), a byway stack with tight limits serving
 * node:http, and the kernel-side pieces an attack test needs: hping3 / nmap runs bounded by `timeout -s INT`
 * (so the tool still prints its statistics) and an outer kill, a legitimate curl client looping in the kernel
 * namespace, a sampler of the stack's own memory accounting, and counter deltas.
 *
 * Nothing here waits on wall-clock guesses: tools are bounded by their own duration plus a generous kill
 * time-out, the legitimate client counts what it completed, and every assertion is on counts and caps, not on
 * speed (the machines are shared and loaded).
 *
 * Addressing: byway 10.77.22.2/24 with the kernel (10.77.22.1) as its gateway, so answers to spoofed sources
 * (hping3 --rand-source) leave byway and are dropped by the kernel, which does not forward: as on the Internet,
 * the victim answers addresses that never reply.
 */
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { createStack, type Stack, type StackOptions } from '../../src/index.js';
import { writeFileSync, rmSync } from 'node:fs';
import { it } from 'vitest';
import { execInAsync, requirePrivileged, type ExecResult } from '../helpers/netns.js';
import { baseline, buildTopology, teardown, type Baseline, type Topology } from '../conformance/topology.js';

export const HTTP_PORT = 80;
/** A second listener (echo) so scans see more than one open port, and a long-lived connection can be attacked. */
export const ECHO_PORT = 7;
/** A port nothing listens on. */
export const CLOSED_PORT = 81;

/** Tools the attack tests run in the kernel namespace; a missing one is named (see .ci/run). */
/**
 * For a suite's body: true when hping3, nmap, curl and timeout are all here. Otherwise it registers one test that
 * fails (BYWAY_REQUIRE_PRIVILEGED=1, as in CI) or is skipped, naming what is missing, and returns false.
 */
export function haveAttackTools(): boolean {
  const missing = missingAttackTools();
  if (missing.length === 0) return true;
  (requirePrivileged ? it : it.skip)(`has the tools it needs: missing ${missing.join(', ')} (see .ci/run)`, () => {
    throw new Error(`missing tools: ${missing.join(', ')}`);
  });
  return false;
}

/** End a legitimate-client loop started with a stop file: signal it, wait for it, remove the file. */
export async function stopLegit(stopFile: string | undefined, legit: Promise<unknown> | undefined): Promise<void> {
  if (stopFile) writeFileSync(stopFile, '');
  await legit?.catch(() => {});
  if (stopFile) rmSync(stopFile, { force: true });
}

export function missingAttackTools(): string[] {
  const tools: Array<[string, string[]]> = [
    ['hping3', ['--version']],
    ['nmap', ['--version']],
    ['curl', ['--version']],
    ['timeout', ['--version']],
  ];
  return tools
    .filter(([cmd, args]) => {
      const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 5000 });
      return r.error !== undefined || r.status !== 0;
    })
    .map(([c]) => c);
}

export interface AttackLab {
  readonly t: Topology;
  readonly stack: Stack;
  readonly url: string;
  /** node:http requests the byway server answered. */
  served(): number;
  /** Close the stack and the topology; returns leftovers (empty when clean). */
  close(): Promise<string[]>;
}

/** Build the topology and a stack with `limits`, serving GET / on HTTP_PORT (backlog `backlog`) and echo on ECHO_PORT. */
export async function startLab(limits: StackOptions['limits'], backlog = 16): Promise<AttackLab> {
  const before: Baseline = baseline();
  const t = await buildTopology('af-packet');
  let stack: Stack;
  try {
    stack = createStack({ driver: t.driver, address: `${t.bywayAddr}/${t.prefixLen}`, gateway: t.kernelAddr, limits });
  } catch (e) {
    t.driver.close();
    await teardown(t, before);
    throw e;
  }
  let served = 0;
  const server = http.createServer((_req, res) => {
    served++;
    res.writeHead(200, { 'content-type': 'text/plain' }).end('byway ok\n');
  });
  server.keepAliveTimeout = 1000;
  const listener = stack.net.createServer((s) => server.emit('connection', s));
  const echo = stack.net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await Promise.all([
    new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(HTTP_PORT, t.bywayAddr, backlog, () => resolve());
    }),
    new Promise<void>((resolve, reject) => {
      echo.once('error', reject);
      echo.listen(ECHO_PORT, t.bywayAddr, () => resolve());
    }),
  ]);
  return {
    t,
    stack,
    url: `http://${t.bywayAddr}:${HTTP_PORT}/`,
    served: () => served,
    async close() {
      const problems: string[] = [];
      try {
        listener.close();
        echo.close();
        server.close();
        stack.close();
      } catch (e) {
        problems.push(`stack.close() threw: ${String(e)}`);
      }
      problems.push(...(await teardown(t, before)));
      return problems;
    },
  };
}

/** What a legitimate client loop saw. */
export interface LegitResult {
  readonly ok: number;
  readonly fail: number;
  readonly raw: string;
}

/**
 * curl in a loop in `ns` for `seconds` (each request bounded by --max-time 4), counting 200s and failures; it also
 * ends when `stopFile` exists. One process for the whole loop; bounded by an outer kill at seconds + 20 s.
 */
export async function legitLoop(ns: string, url: string, seconds: number, stopFile?: string): Promise<LegitResult> {
  const stop = stopFile ? ` && [ ! -e '${stopFile}' ]` : '';
  const script = [
    `end=$((SECONDS+${seconds})); ok=0; fail=0`,
    `while [ $SECONDS -lt $end ]${stop}; do`,
    `  c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 4 '${url}')`,
    `  if [ "$c" = 200 ]; then ok=$((ok+1)); else fail=$((fail+1)); fi`,
    `done`,
    `echo "ok=$ok fail=$fail"`,
  ].join('\n');
  const r = await execInAsync(ns, 'bash', ['-c', script], { timeoutMs: (seconds + 20) * 1000 });
  const m = /ok=(\d+) fail=(\d+)/.exec(r.stdout);
  if (!m) throw new Error(`legit client loop gave no result (exit ${r.code}${r.timedOut ? ', killed' : ''}): ${r.stdout} ${r.stderr}`);
  return { ok: Number(m[1]), fail: Number(m[2]), raw: r.stdout.trim() };
}

/** One bounded hping3 run. */
export interface HpingResult extends ExecResult {
  /** Packets hping3 says it sent (its statistics line), or -1 if it printed none. */
  readonly sent: number;
}

/**
 * hping3 in `ns` with `args`, stopped with SIGINT after `seconds` (it then prints its statistics), killed at
 * seconds + 20 s if it does not stop.
 */
export async function hping(ns: string, args: readonly string[], seconds: number): Promise<HpingResult> {
  const r = await execInAsync(ns, 'timeout', ['-s', 'INT', '-k', '5', String(seconds), 'hping3', ...args], { timeoutMs: (seconds + 20) * 1000 });
  const m = /(\d+) packets transmitted/.exec(r.stdout + r.stderr);
  return { ...r, sent: m ? Number(m[1]) : -1 };
}

/** Samples `probe()` every `everyMs` until stop(); keeps the maximum of each field. */
export function sampler<K extends string>(probe: () => Record<K, number>, everyMs = 5): { stop(): Record<K, number>; samples(): number } {
  const max = probe();
  let n = 1;
  const timer = setInterval(() => {
    const v = probe();
    n++;
    for (const k of Object.keys(v) as K[]) if (v[k] > max[k]) max[k] = v[k];
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return max;
    },
    samples: () => n,
  };
}

/**
 * Generous bound on the JS heap during an attack (it stays at 20-60 MiB here): not a cap byway enforces, a net
 * that catches per-packet state that escaped the stack's own accounting (a flood of 10^5-10^6 packets leaking
 * even a few hundred bytes each would cross it).
 */
export const HEAP_BOUND_MIB = 384;

/** The stack's own memory accounting, and the heap for information. */
export function memoryProbe(stack: Stack): () => { reassemblyBytes: number; datagrams: number; neighbours: number; neighbourQueuedBytes: number; tcpConnections: number; heapMiB: number } {
  return () => ({
    reassemblyBytes: stack.core.reassembler.memory,
    datagrams: stack.core.reassembler.inProgress,
    neighbours: stack.core.neighbours.size,
    neighbourQueuedBytes: stack.core.neighbours.queuedBytes,
    tcpConnections: stack.core.tcp?.connectionCount ?? 0,
    heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  });
}

/** Every numeric counter of the stats tree, flattened ('tcp.rstsSent'). */
export function flatStats(stack: Stack): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (o: object, prefix: string): void => {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'number') out[prefix + k] = v;
      else if (v && typeof v === 'object') walk(v, `${prefix}${k}.`);
    }
  };
  walk(stack.stats, '');
  return out;
}

/** Counters that changed between two flatStats snapshots. */
export function statsDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v !== (a[k] ?? 0)) out[k] = v - (a[k] ?? 0);
  return out;
}

/** A delta as one line for the test log. */
export function show(d: Record<string, number>, keys?: readonly string[]): string {
  return (keys ?? Object.keys(d)).map((k) => `${k}=${d[k] ?? 0}`).join(' ');
}

/** One GET over the kernel path from the namespace; true on 200 (after an attack: "the stack survived"). */
export async function oneGet(ns: string, url: string): Promise<boolean> {
  const r = await execInAsync(ns, 'curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '8', url], { timeoutMs: 15_000 });
  return r.stdout.trim() === '200';
}

/**
 * A long-lived kernel TCP connection from `ns` (fixed source port `localPort`) to byway's echo port, held by a
 * small Node process in the namespace, so attacks can aim at a known 4-tuple. `echo()` sends a line over it and
 * resolves with what came back (or rejects after `timeoutMs`), proving the connection survived.
 */
export interface HeldConnection {
  readonly ready: Promise<void>;
  echo(line: string, timeoutMs?: number): Promise<string>;
  /** Kills the process; resolves once it has exited and its pipes are closed. */
  stop(): Promise<void>;
}

export function holdConnection(ns: string, host: string, port: number, localPort: number): HeldConnection {
  const script = `
const s = require('node:net').connect({ host: ${JSON.stringify(host)}, port: ${port}, localPort: ${localPort} });
s.on('connect', () => console.log('up'));
s.on('data', (d) => console.log('got ' + d.toString().trim()));
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
s.on('close', () => { console.log('closed'); process.exit(0); });
process.stdin.on('data', (d) => s.write(d));
process.stdin.on('end', () => s.end());
`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  const waiters: Array<() => void> = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.on('exit', () => {
    out += '\nexited';
    for (const w of waiters.splice(0)) w();
  });
  child.stdin.on('error', () => {});
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  /** Resolves when `out` (from `from` on) matches re; rejects after timeoutMs or when the process exits. */
  const waitFor = (re: RegExp, from: number, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`held connection: no ${re} within ${timeoutMs} ms; output: ${out}`)), timeoutMs);
      const check = (): void => {
        const m = re.exec(out.slice(from));
        if (m) {
          clearTimeout(timer);
          resolve(m[0]);
        } else if (out.includes('exited')) {
          clearTimeout(timer);
          reject(new Error(`held connection ended: ${out}`));
        } else waiters.push(check);
      };
      check();
    });
  return {
    ready: waitFor(/^up$/m, 0, 20_000).then(() => undefined),
    echo(line, timeoutMs = 10_000) {
      const from = out.length;
      child.stdin.write(line + '\n');
      return waitFor(new RegExp(`got ${line}`), from, timeoutMs);
    },
    stop() {
      child.stdin.destroy();
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      return closed;
    },
  };
}

/**
 * Wait until the stack has worked through (or its ring dropped) everything sent before this call: after a flood
 * the AF_PACKET ring can still hold thousands of frames, and counters read too early would bleed into the next
 * measurement. A ping from the kernel namespace is the marker (the ring is FIFO): once byway has counted one more
 * echo request, what came before it has been handled. Retried while the ring may still drop the marker; gives up
 * (throws) after `timeoutMs`.
 */
export async function drain(lab: AttackLab, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  const before = lab.stack.stats.icmp.echoRequests;
  while (Date.now() - t0 < timeoutMs) {
    await execInAsync(lab.t.kernelNs, 'ping', ['-c', '1', '-W', '1', '-q', lab.t.bywayAddr], { timeoutMs: 5000 });
    if (lab.stack.stats.icmp.echoRequests > before) return;
  }
  throw new Error(`the stack did not count a marker ping within ${timeoutMs} ms after the flood`);
}
