/**
 * Network namespaces, veth pairs and TAP devices for tests that talk to the real Linux kernel.
 *
 * Every name carries a random suffix so parallel runs never collide; every command runs with a timeout so a
 * wedged `ip` cannot hang a test; `NetLab.destroy()` removes everything it made (call it from afterAll or a
 * finally; it never throws). Namespaces get IPv6 disabled so the kernel's router solicitations and neighbour
 * discovery do not add noise to frame-level tests.
 *
 * veth pairs get tx checksum offload turned off (ethtool) unless asked otherwise: otherwise the kernel's TCP/UDP
 * packets cross the pair with partial checksums, which no real wire carries.
 *
 * Privileges: `privilegeProblem()` says why the kernel tests cannot run here (not Linux, no CAP_NET_ADMIN /
 * CAP_NET_RAW / CAP_SYS_ADMIN, no `ip`, no native addon). `describePrivileged` skips with that reason, unless
 * BYWAY_REQUIRE_PRIVILEGED=1, in which case the suite fails with it.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { nativeAvailability } from '../../drivers/native/index.js';
import { until as pollUntil } from './until.js';

const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;
const CAP_SYS_ADMIN = 21;

function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt('0x' + m[1]) : 0n;
  } catch {
    return 0n;
  }
}

/** Why kernel-level tests cannot run here, or undefined when they can. */
export function privilegeProblem(opts: { native?: boolean } = {}): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  const caps = effectiveCaps();
  const missing = [
    [CAP_NET_ADMIN, 'CAP_NET_ADMIN'],
    [CAP_NET_RAW, 'CAP_NET_RAW'],
    [CAP_SYS_ADMIN, 'CAP_SYS_ADMIN'],
  ]
    .filter(([bit]) => (caps & (1n << BigInt(bit as number))) === 0n)
    .map(([, name]) => name);
  if (missing.length) return `needs ${missing.join(', ')} (run as root); this process lacks them`;
  if (spawnSync('ip', ['-V'], { stdio: 'ignore', timeout: 5000 }).status !== 0) return 'needs the `ip` command (Debian: iproute2)';
  if (spawnSync('ethtool', ['--version'], { stdio: 'ignore', timeout: 5000 }).status !== 0) return 'needs `ethtool` (Debian: ethtool)';
  if (spawnSync('ping', ['-V'], { stdio: 'ignore', timeout: 5000 }).status !== 0) return 'needs `ping` (Debian: iputils-ping)';
  if (opts.native !== false) {
    const a = nativeAvailability();
    if (!a.available) return a.reason;
  }
  return undefined;
}

export const requirePrivileged = process.env.BYWAY_REQUIRE_PRIVILEGED === '1';

/**
 * describe() for kernel tests: runs when privileged; otherwise skips with the reason in its title, or, with
 * BYWAY_REQUIRE_PRIVILEGED=1, fails with it.
 */
export function describePrivileged(name: string, fn: () => void, opts: { native?: boolean } = {}): void {
  describeUnless(name, privilegeProblem(opts), fn);
}

/** Why `tools` (commands on PATH) cannot run here, or undefined when all are present. */
export function toolProblem(tools: readonly string[]): string | undefined {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore', timeout: 5000 }).status !== 0);
  return missing.length ? `needs ${missing.join(', ')} (\`npm test\` installs them as root; see scripts/test-setup.mjs)` : undefined;
}

/** describe() for tests that drive external tools: skips with the reason when one is missing (fails in CI). */
export function describeWithTools(name: string, tools: readonly string[], fn: () => void): void {
  describeUnless(name, toolProblem(tools), fn);
}

/** describe() for tests that need only the native addon built (no privileges): skips with the build's reason, fails in CI. */
export function describeNative(name: string, fn: () => void): void {
  const a = nativeAvailability();
  describeUnless(name, a.available ? undefined : a.reason, fn);
}

/** Runs `fn` when `why` is undefined; otherwise skips with the reason in its title, or fails under BYWAY_REQUIRE_PRIVILEGED=1. */
function describeUnless(name: string, why: string | undefined, fn: () => void): void {
  if (why === undefined) describe(name, fn);
  else if (requirePrivileged) {
    describe(name, () => {
      it('has the privileges and tools it needs (BYWAY_REQUIRE_PRIVILEGED=1)', () => {
        throw new Error(`cannot run: ${why}`);
      });
    });
  } else {
    describe.skip(`${name} [skipped: ${why}]`, fn);
  }
}

/** `prefix` plus 6 random hex digits (interface names must stay within 15 bytes). */
export function uniqueName(prefix: string): string {
  const name = prefix + randomBytes(3).toString('hex');
  if (name.length > 15) throw new Error(`name ${name} is longer than 15 bytes`);
  return name;
}

/** Run a command with a timeout; returns stdout; throws with stderr on failure. */
export function run(cmd: string, args: readonly string[], timeoutMs = 10_000): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

/** Run a command inside a namespace (`ip netns exec`), with a timeout. */
export function execIn(ns: string, cmd: string, args: readonly string[], timeoutMs = 10_000): string {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], timeoutMs);
}

/** `ip` inside a namespace, e.g. ipIn(ns, 'addr add 10.77.1.1/24 dev tap0'). */
export function ipIn(ns: string, line: string, timeoutMs = 10_000): string {
  return run('ip', ['-n', ns, ...line.split(/\s+/).filter(Boolean)], timeoutMs);
}

/** What `execInAsync` / `runAsync` saw. */
export interface ExecResult {
  /** Exit code, or null when killed by a signal (timeout included). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** Wall time from spawn to exit, ms. */
  readonly ms: number;
}

/**
 * Run a command without blocking the event loop (needed when byway, on this same loop, must answer it), with a
 * timeout (SIGKILL to its process group). Never rejects for a failing command: inspect `code`/`timedOut`.
 */
/**
 * Keep each kernel TCP flow of namespace `ns` on one transmit queue, as a NIC's RSS keeps a flow on one receive
 * queue. On a multi-queue veth the receiving end's queue is the sender's transmit queue, picked by the socket's
 * hash, and Linux draws a new hash on every SYN and RTO retransmission (net.core.txrehash, per namespace): a flow
 * whose segment was retransmitted then lands on another queue, which a real NIC's hash of the 4-tuple never does.
 * Tests of byway's per-queue clusters (AF_XDP queues), where each worker serves the flows of its own queue, set it
 * off in the namespaces whose kernel sends to byway.
 */
export function steadyTxQueues(ns: string): void {
  execIn(ns, 'sysctl', ['-qw', 'net.core.txrehash=0']);
}

export function runAsync(cmd: string, args: readonly string[], opts: { timeoutMs?: number; input?: string | Uint8Array } = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(e), timedOut, ms: performance.now() - t0 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, ms: performance.now() - t0 });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** `runAsync` inside a namespace (`ip netns exec`). */
export function execInAsync(ns: string, cmd: string, args: readonly string[], opts: { timeoutMs?: number; input?: string | Uint8Array } = {}): Promise<ExecResult> {
  return runAsync('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Signal a child started with `detached: true` and everything in its process group (its own id). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

const liveLabs = new Set<NetLab>();
let exitHooked = false;

/** A set of namespaces and links made for one test file; destroy() removes them all. */
export class NetLab {
  private readonly namespaces: string[] = [];
  private readonly rootLinks: string[] = [];

  constructor() {
    liveLabs.add(this);
    if (!exitHooked) {
      exitHooked = true;
      // Last resort when afterAll never ran (a worker torn down early): remove what is left at exit.
      process.once('exit', () => {
        for (const lab of liveLabs) lab.destroy();
      });
    }
  }
  private readonly processes: ChildProcess[] = [];

  /**
   * Start a long-running command (a server) inside a namespace, in its own process group, output collected in
   * `output()`. stopProcesses() (or destroy(), as a last resort) ends it.
   */
  spawnIn(ns: string, cmd: string, args: readonly string[]): ChildProcess & { output(): string } {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-8192)));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-8192)));
    child.on('error', (e) => (out += String(e)));
    this.processes.push(child);
    return Object.assign(child, { output: () => out });
  }

  /** End every process started with spawnIn: SIGTERM, then SIGKILL after `graceMs`; resolves once all exited. */
  async stopProcesses(graceMs = 2000): Promise<void> {
    const procs = this.processes.splice(0);
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return resolve();
            const t = setTimeout(() => killGroup(p, 'SIGKILL'), graceMs);
            p.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            killGroup(p, 'SIGTERM');
          }),
      ),
    );
  }

  /** The namespaces this lab made and has not yet removed. */
  get namespaceNames(): readonly string[] {
    return [...this.namespaces];
  }

  /** Create a namespace with loopback up and IPv6 off. */
  addNetns(prefix = 'bw-'): string {
    const ns = uniqueName(prefix);
    run('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    ipIn(ns, 'link set lo up');
    execIn(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
    execIn(ns, 'sysctl', ['-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    return ns;
  }

  /**
   * A veth pair with end `a` in namespace `nsA` and end `b` in `nsB` (undefined: the root namespace), both up,
   * with optional addresses ('10.77.2.1/24').
   */
  addVeth(
    nsA: string | undefined,
    nsB: string | undefined,
    opts: { addrA?: string; addrB?: string; mtu?: number; txChecksumOffload?: boolean; queues?: number } = {},
  ): { a: string; b: string } {
    const a = uniqueName('bwa');
    const b = uniqueName('bwb');
    // `queues`: both ends get that many tx and rx queues (numtxqueues/numrxqueues on each side of the pair).
    const q = opts.queues ? ['numtxqueues', String(opts.queues), 'numrxqueues', String(opts.queues)] : [];
    run('ip', ['link', 'add', a, ...q, 'type', 'veth', 'peer', 'name', b, ...q]);
    if (!nsA) this.rootLinks.push(a);
    if (nsA) run('ip', ['link', 'set', a, 'netns', nsA]);
    if (nsB) run('ip', ['link', 'set', b, 'netns', nsB]);
    const ipA = (line: string): string => (nsA ? ipIn(nsA, line) : run('ip', line.split(' ')));
    const ipB = (line: string): string => (nsB ? ipIn(nsB, line) : run('ip', line.split(' ')));
    if (opts.mtu) {
      ipA(`link set ${a} mtu ${opts.mtu}`);
      ipB(`link set ${b} mtu ${opts.mtu}`);
    }
    if (opts.addrA) ipA(`addr add ${opts.addrA} dev ${a}`);
    if (opts.addrB) ipB(`addr add ${opts.addrB} dev ${b}`);
    if (!opts.txChecksumOffload) {
      // With tx checksum offload on, a kernel sender over veth leaves TCP/UDP checksums partial (only the
      // pseudo-header sum), and a bypass driver on the other end sees them so. Off by default, as on a wire.
      const eth = (ns: string | undefined, dev: string): string =>
        ns ? execIn(ns, 'ethtool', ['-K', dev, 'tx', 'off']) : run('ethtool', ['-K', dev, 'tx', 'off']);
      eth(nsA, a);
      eth(nsB, b);
    }
    ipA(`link set ${a} up`);
    ipB(`link set ${b} up`);
    return { a, b };
  }

  /** A persistent TAP device made by `ip tuntap` (for attach tests), up, in `ns`. */
  addTap(ns: string, opts: { multiQueue?: boolean } = {}): string {
    const name = uniqueName('bwp');
    ipIn(ns, `tuntap add dev ${name} mode tap${opts.multiQueue ? ' multi_queue' : ''}`);
    ipIn(ns, `link set ${name} up`);
    return name;
  }

  /**
   * Names for programs run in `ns`: `ip netns exec` mounts /etc/netns/NS/hosts over /etc/hosts, so dns.lookup
   * there (getaddrinfo, 'files' first) resolves them. destroy() removes the file.
   */
  addHosts(ns: string, entries: Record<string, string>): void {
    const dir = `/etc/netns/${ns}`;
    mkdirSync(dir, { recursive: true });
    this.hostDirs.push(dir);
    writeFileSync(`${dir}/hosts`, ['127.0.0.1 localhost', ...Object.entries(entries).map(([name, ip]) => `${ip} ${name}`)].join('\n') + '\n');
  }
  private readonly hostDirs: string[] = [];

  /** Whether an interface exists in a namespace. */
  linkExists(ns: string | undefined, name: string): boolean {
    const args = ns ? ['-n', ns, 'link', 'show', name] : ['link', 'show', name];
    return spawnSync('ip', args, { stdio: 'ignore', timeout: 5000 }).status === 0;
  }

  /** The MAC of an interface. */
  macOf(ns: string | undefined, name: string): Uint8Array {
    const out = ns ? ipIn(ns, `link show ${name}`) : run('ip', ['link', 'show', name]);
    const m = /link\/ether ([0-9a-f:]{17})/.exec(out);
    if (!m) throw new Error(`no MAC for ${name}: ${out}`);
    return new Uint8Array(m[1]!.split(':').map((h) => parseInt(h, 16)));
  }

  /** Remove everything; never throws (so it is safe in afterAll after a failure). */
  destroy(): void {
    liveLabs.delete(this);
    for (const p of this.processes.splice(0)) killGroup(p, 'SIGKILL');
    for (const l of this.rootLinks.splice(0)) spawnSync('ip', ['link', 'del', l], { stdio: 'ignore', timeout: 5000 });
    for (const ns of this.namespaces.splice(0)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
    for (const d of this.hostDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

/** Wait (real time, polling every 50 ms) until `ok()`, else throw `not within ms: what`. For real-kernel tests. */
export async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  await pollUntil(ok, ms, 50);
  if (!ok()) throw new Error(`not within ${ms} ms: ${what}`);
}

/**
 * In namespace `ns` (its kernel as the client), drop every SYN-ACK from `address`:`port` with an nftables rule (table
 * `bwsyn`): the connections it opens stay half-open on the server. Returns the removal (safe to call twice).
 */
export function dropSynAcks(ns: string, address: string, port: number): () => void {
  const nft = (...args: string[]): string => execIn(ns, 'nft', args);
  nft('add', 'table', 'inet', 'bwsyn');
  let dropped = true;
  const undo = (): void => {
    if (dropped) nft('delete', 'table', 'inet', 'bwsyn');
    dropped = false;
  };
  try {
    nft('add', 'chain', 'inet', 'bwsyn', 'in', '{ type filter hook input priority 0 ; }');
    nft('add', 'rule', 'inet', 'bwsyn', 'in', 'ip', 'saddr', address, 'tcp', 'sport', String(port), 'tcp flags & (syn | ack) == syn | ack', 'drop');
  } catch (err) {
    undo();
    throw err;
  }
  return undo;
}
