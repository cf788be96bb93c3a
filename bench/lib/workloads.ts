/**
 * The benchmark workloads, written once against a small Endpoint interface that both the kernel path (node:net /
 * node:dgram) and byway (stack.net / stack.dgram) satisfy, so both sides of every comparison run the same code.
 *
 * Servers are long-lived handles (start, optionally `mark()` a counter snapshot, `stop()`); clients are one call
 * that runs for a given time and resolves with its measurements. Nothing here throws for network trouble: errors
 * are counted and returned. Times are performance.now() milliseconds; latencies are microseconds.
 *
 * Modelled on OpenOnload's sfnt-pingpong (ping-pong, half round trip percentiles) and sfnt-stream (one-way rate).
 */
import { Samples, summarize, type LatencySummary } from './stats.js';
import { gcKindOf } from './gc-window.js';
import { Errors, cpuMs, noop, now, type Conn, type Endpoint } from './wl-common.js';

export type { Conn, Endpoint, RemoteInfoLike, ServerHandle, Srv, Udp } from './wl-common.js';
export { servers, tcpEchoServer, tcpHoldServer, tcpSinkServer, udpEchoServer, udpSinkServer, type ServerKind } from './wl-servers.js';

// ------------------------------------------------------------------------------------------------------ clients

export interface Timing {
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface PingPongResult {
  /** Half round trips, microseconds (the sfnt-pingpong convention). */
  readonly halfRtt: LatencySummary;
  /** Round trips per second over the measured window. */
  readonly roundTripsPerSec: number;
  /** Every round trip completed, warm-up included: what the driver counters of the workload cover (kicks per round trip). */
  readonly roundTripsTotal: number;
  readonly lost: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly cpuMs: number;
  /** What the slow round trips coincide with (see TailProbe). */
  readonly tail?: TailReport;
}

export interface TailReport {
  /** Round trips per second slower than the median round trip plus 2, 5, 10, 20, 50, 100 us. */
  readonly slowPerSec: Record<string, number>;
  /** This process's garbage collections during the window (PerformanceObserver 'gc'), and their total pause. */
  readonly gcs: number;
  readonly gcMs: number;
  /** The collections by kind (perf_hooks: minor = scavenge, major = mark-compact, incremental, weakcb). */
  readonly gcKinds: Record<string, number>;
  /** Round trips slower than the median plus 5 us that overlapped one of those collections. */
  readonly slowDuringGc: number;
  /** Context switches of this process during the window (getrusage): involuntary ones are preemptions. */
  readonly involuntarySwitches: number;
  readonly voluntarySwitches: number;
  readonly windowS: number;
}

const TAIL_STEPS_US = [2, 5, 10, 20, 50, 100];
/** perf_hooks constants NODE_PERFORMANCE_GC_*. */
const GC_KINDS: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };
const gcKind = gcKindOf;

/**
 * Attributes the tail of a ping-pong run: per round trip its start time and length, this process's GC pauses
 * and context switches over the window. Slow round trips that overlap a GC pause are counted as the GC's; the
 * rest is compared (in docs/performance-targets.md) with how often a spinning thread loses its vCPU
 * (bench/jitter.ts), measured apart.
 */
class TailProbe {
  private readonly at = new Samples();
  private readonly lat = new Samples();
  private readonly gcs: [number, number, number][] = [];
  private readonly obs: InstanceType<typeof PerformanceObserver> | undefined;
  private usage0: NodeJS.ResourceUsage | undefined;
  constructor() {
    try {
      this.obs = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) this.gcs.push([e.startTime, e.duration, gcKind(e)]);
      });
      this.obs.observe({ entryTypes: ['gc'] });
    } catch {
      this.obs = undefined;
    }
  }
  start(): void {
    this.usage0 = process.resourceUsage();
  }
  add(startMs: number, us: number): void {
    this.at.add(startMs);
    this.lat.add(us);
  }
  report(fromMs: number, toMs: number): TailReport {
    for (const e of this.obs?.takeRecords() ?? []) this.gcs.push([e.startTime, e.duration, gcKind(e)]);
    this.obs?.disconnect();
    const u1 = process.resourceUsage();
    const u0 = this.usage0 ?? u1;
    const lat = this.lat.values();
    const at = this.at.values();
    const sorted = Float64Array.from(lat).sort();
    const p50 = sorted.length ? sorted[sorted.length >> 1]! : NaN;
    const windowS = (toMs - fromMs) / 1000;
    const slowPerSec: Record<string, number> = {};
    for (const step of TAIL_STEPS_US) {
      let n = 0;
      for (let i = 0; i < lat.length; i++) if (lat[i]! > p50 + step) n++;
      slowPerSec[`+${step}us`] = Math.round(n / windowS);
    }
    const gcs = this.gcs.filter(([t, d]) => t + d >= fromMs && t <= toMs);
    let slowDuringGc = 0;
    for (let i = 0; i < lat.length; i++) {
      if (!(lat[i]! > p50 + 5)) continue;
      const s = at[i]!;
      const e = s + lat[i]! / 1000;
      if (gcs.some(([t, d]) => t <= e && t + d >= s)) slowDuringGc++;
    }
    const gcKinds: Record<string, number> = {};
    for (const [, , k] of gcs) {
      const name = GC_KINDS[k] ?? `kind${k}`;
      gcKinds[name] = (gcKinds[name] ?? 0) + 1;
    }
    return {
      slowPerSec,
      gcKinds,
      gcs: gcs.length,
      gcMs: Math.round(gcs.reduce((a, [, d]) => a + d, 0) * 100) / 100,
      slowDuringGc,
      involuntarySwitches: u1.involuntaryContextSwitches - u0.involuntaryContextSwitches,
      voluntarySwitches: u1.voluntaryContextSwitches - u0.voluntaryContextSwitches,
      windowS: Math.round(windowS * 1000) / 1000,
    };
  }
}

/**
 * UDP ping-pong: one datagram of `size` bytes out, wait for its echo, repeat. A datagram not answered within
 * `lossTimeoutMs` counts as lost and the next one goes out (its late echo is ignored by sequence number).
 */
export function udpPingPong(ep: Endpoint, o: Timing & { host: string; port: number; size: number; lossTimeoutMs?: number }): Promise<PingPongResult> {
  const lossTimeout = o.lossTimeoutMs ?? 200;
  return new Promise((resolve) => {
    const sock = ep.createUdp();
    const msg = Buffer.alloc(Math.max(o.size, 0), 0x61);
    const samples = new Samples();
    const probe = new TailProbe();
    let probing = false;
    const errors = new Errors();
    let seq = 0;
    let lost = 0;
    let sentAt = 0;
    let t0 = 0;
    let measureFrom = 0;
    let end = 0;
    let counted = 0;
    let total = 0;
    let cpu0 = process.cpuUsage();
    let done = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    const finish = (): void => {
      if (done) return;
      done = true;
      if (timer) clearInterval(timer);
      sock.close();
      const windowS = (Math.min(now(), end) - measureFrom) / 1000;
      const tail = probe.report(measureFrom, Math.min(now(), end));
      resolve({
        tail,
        halfRtt: summarize(samples, 0.5),
        roundTripsPerSec: Math.round(counted / windowS),
        roundTripsTotal: total,
        lost,
        errors: errors.count,
        errorCodes: errors.codes,
        cpuMs: cpuMs(cpu0),
      });
    };
    const send = (): void => {
      seq = (seq + 1) >>> 0;
      if (msg.length >= 4) msg.writeUInt32LE(seq, 0);
      sentAt = now();
      if (!probing && sentAt >= measureFrom) {
        probing = true;
        probe.start();
      }
      sock.send(msg, o.port, o.host, (err) => {
        if (err) errors.add(err);
      });
    };
    sock.on('message', (m) => {
      if (done) return;
      if (m.length >= 4 && Buffer.from(m.buffer, m.byteOffset, 4).readUInt32LE(0) !== seq) return;
      const t = now();
      total++;
      if (sentAt >= measureFrom) {
        samples.add((t - sentAt) * 1000);
        probe.add(sentAt, (t - sentAt) * 1000);
        counted++;
      }
      if (t >= end) return finish();
      send();
    });
    sock.on('error', (e) => errors.add(e));
    sock.bind(0, ep.address, () => {
      t0 = now();
      measureFrom = t0 + o.warmupMs;
      end = measureFrom + o.durationMs;
      cpu0 = process.cpuUsage();
      timer = setInterval(() => {
        const t = now();
        if (t >= end + lossTimeout) return finish();
        if (t - sentAt > lossTimeout) {
          lost++;
          send();
        }
      }, 20);
      send();
    });
  });
}

/** TCP ping-pong over one connection (Nagle off): `size` bytes out, wait for `size` bytes back, repeat. */
export function tcpPingPong(ep: Endpoint, o: Timing & { host: string; port: number; size: number }): Promise<PingPongResult & { connectMs: number }> {
  return new Promise((resolve) => {
    const msg = Buffer.alloc(o.size, 0x62);
    const samples = new Samples();
    const errors = new Errors();
    const tc = now();
    let connectMs = NaN;
    const s = ep.connect(o.host, o.port);
    s.setNoDelay(true);
    let got = 0;
    let sentAt = 0;
    let measureFrom = 0;
    let end = 0;
    let counted = 0;
    let total = 0;
    let cpu0 = process.cpuUsage();
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      s.destroy();
      const windowS = (Math.min(now(), end) - measureFrom) / 1000;
      resolve({
        halfRtt: summarize(samples, 0.5),
        roundTripsPerSec: Math.round(counted / windowS),
        roundTripsTotal: total,
        lost: 0,
        errors: errors.count,
        errorCodes: errors.codes,
        cpuMs: cpuMs(cpu0),
        connectMs,
      });
    };
    // Whatever happens (a stalled connection), give up a few seconds after the planned end.
    const guard = setTimeout(finish, o.warmupMs + o.durationMs + 5000);
    s.on('error', (e) => {
      errors.add(e);
      finish();
    });
    s.on('close', finish);
    s.on('connect', () => {
      connectMs = now() - tc;
      measureFrom = now() + o.warmupMs;
      end = measureFrom + o.durationMs;
      cpu0 = process.cpuUsage();
      sentAt = now();
      s.write(msg);
    });
    s.on('data', (d: Uint8Array) => {
      got += d.length;
      if (got < o.size) return;
      got -= o.size;
      const t = now();
      total++;
      if (sentAt >= measureFrom) {
        samples.add((t - sentAt) * 1000);
        counted++;
      }
      if (t >= end) return finish();
      sentAt = t;
      s.write(msg);
    });
  });
}

export interface BlastResult {
  /** Datagrams whose send succeeded, whole run (warm-up included), for loss accounting. */
  readonly sentTotal: number;
  /** Sends per second over the measured window. */
  readonly sentPerSec: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly cpuMs: number;
}

/**
 * UDP one-way stream: datagrams of `size` bytes as fast as the socket accepts them, with at most `window` sends
 * in flight (node:dgram's send completes asynchronously), refilled once per turn of the event loop.
 */
export function udpBlast(ep: Endpoint, o: Timing & { host: string; port: number; size: number; window?: number }): Promise<BlastResult> {
  const window = o.window ?? 64;
  return new Promise((resolve) => {
    const sock = ep.createUdp();
    const msg = Buffer.alloc(o.size, 0x63);
    const errors = new Errors();
    let sentTotal = 0;
    let sentInWindow = 0;
    let inFlight = 0;
    let measureFrom = 0;
    let end = 0;
    let cpu0 = process.cpuUsage();
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      sock.close();
      resolve({ sentTotal, sentPerSec: Math.round(sentInWindow / (o.durationMs / 1000)), errors: errors.count, errorCodes: errors.codes, cpuMs: cpuMs(cpu0) });
    };
    let refillQueued = false;
    const onSent = (err: Error | null): void => {
      inFlight--;
      const t = now();
      if (err) errors.add(err);
      else {
        sentTotal++;
        if (t >= measureFrom && t < end) sentInWindow++;
      }
      if (t >= end) {
        if (inFlight === 0) finish();
        return;
      }
      // Refill from a fresh turn of the event loop, never from inside the send callback: a send whose callback
      // comes on process.nextTick (byway's does) would otherwise chain nextTicks forever and starve every other
      // phase of the loop (byway's poll loop runs in setImmediate). It also lets receives and timers run on the
      // kernel path. One refill per batch of completions.
      if (!refillQueued) {
        refillQueued = true;
        setImmediate(refill);
      }
    };
    const refill = (): void => {
      refillQueued = false;
      if (!done && now() < end) pump();
    };
    const pump = (): void => {
      while (inFlight < window && !done) {
        inFlight++;
        sock.send(msg, o.port, o.host, onSent);
      }
    };
    sock.on('error', (e) => errors.add(e));
    sock.bind(0, ep.address, () => {
      measureFrom = now() + o.warmupMs;
      end = measureFrom + o.durationMs;
      cpu0 = process.cpuUsage();
      pump();
      // A send whose callback never comes must not hang the run.
      setTimeout(finish, o.warmupMs + o.durationMs + 5000);
    });
  });
}

export interface BulkResult {
  readonly connected: number;
  readonly bytesWritten: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly cpuMs: number;
}

/**
 * TCP bulk sender: `conns` connections, each writing 64 KiB chunks whenever the socket accepts more, for
 * warm-up + duration; then destroys them. Goodput is measured at the receiver (the sink's marks).
 */
export function tcpBulkSend(ep: Endpoint, o: Timing & { host: string; port: number; conns: number; chunk?: number }): Promise<BulkResult> {
  return new Promise((resolve) => {
    const chunk = Buffer.alloc(o.chunk ?? 65536, 0x64);
    const errors = new Errors();
    const socks: Conn[] = [];
    let connected = 0;
    let written = 0;
    let stopped = false;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < o.conns; i++) {
      const s = ep.connect(o.host, o.port);
      socks.push(s);
      const pump = (): void => {
        while (!stopped) {
          written += chunk.length;
          if (!s.write(chunk)) break;
        }
      };
      s.on('error', (e) => errors.add(e));
      s.on('connect', () => {
        connected++;
        pump();
      });
      s.on('drain', pump);
    }
    setTimeout(() => {
      stopped = true;
      for (const s of socks) s.destroy();
      resolve({ connected, bytesWritten: written, errors: errors.count, errorCodes: errors.codes, cpuMs: cpuMs(cpu0) });
    }, o.warmupMs + o.durationMs);
  });
}

export interface ConnRateResult {
  readonly completed: number;
  readonly perSec: number;
  /** connect + 1 request/response + close, microseconds. */
  readonly cycle: LatencySummary;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly cpuMs: number;
}

/**
 * Connection set-up rate: `concurrency` loops of connect, one `size`-byte request and its echo, close (the client
 * ends, the echo server ends back; the cycle is complete at 'close').
 */
export function tcpConnRate(ep: Endpoint, o: Timing & { host: string; port: number; size?: number; concurrency?: number }): Promise<ConnRateResult> {
  const size = o.size ?? 64;
  const concurrency = o.concurrency ?? 1;
  return new Promise((resolve) => {
    const msg = Buffer.alloc(size, 0x65);
    const samples = new Samples();
    const errors = new Errors();
    const t0 = now();
    const measureFrom = t0 + o.warmupMs;
    const end = measureFrom + o.durationMs;
    const cpu0 = process.cpuUsage();
    let completed = 0;
    let active = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve({ completed, perSec: Math.round(completed / (o.durationMs / 1000)), cycle: summarize(samples), errors: errors.count, errorCodes: errors.codes, cpuMs: cpuMs(cpu0) });
    };
    const guard = setTimeout(finish, o.warmupMs + o.durationMs + 5000);
    const cycle = (): void => {
      if (now() >= end || errors.count > 1000) {
        if (active === 0) {
          clearTimeout(guard);
          finish();
        }
        return;
      }
      active++;
      const start = now();
      let got = 0;
      let ok = false;
      const s = ep.connect(o.host, o.port);
      s.setNoDelay(true);
      s.on('connect', () => s.write(msg));
      s.on('data', (d: Uint8Array) => {
        got += d.length;
        if (got >= size) {
          ok = true;
          s.end();
        }
      });
      s.on('error', (e) => errors.add(e));
      s.on('close', () => {
        active--;
        const t = now();
        if (ok && start >= measureFrom && t < end) {
          completed++;
          samples.add((t - start) * 1000);
        }
        setImmediate(cycle);
      });
    };
    for (let i = 0; i < concurrency; i++) cycle();
  });
}

export interface IdleResult {
  readonly requested: number;
  readonly opened: number;
  readonly openMs: number;
  readonly openPerSec: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  /** Process memory growth per open connection, bytes (after a forced GC when --expose-gc is on). */
  readonly rssPerConn: number;
  readonly heapPerConn: number;
  readonly externalPerConn: number;
  readonly gcForced: boolean;
  readonly cpuMs: number;
}

function gcNow(): boolean {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) return false;
  g();
  g();
  return true;
}

/**
 * Opens `count` idle TCP connections, at most `inflight` handshakes at a time, and measures the time to open them
 * all and the process memory they cost. The connections stay open until `closeIdle` (a module-level set).
 */
const idleSockets = new Set<Conn>();
export async function tcpIdleOpen(ep: Endpoint, o: { host: string; port: number; count: number; inflight?: number; timeoutMs?: number }): Promise<IdleResult> {
  const inflight = o.inflight ?? 128;
  const timeoutMs = o.timeoutMs ?? 60_000;
  const errors = new Errors();
  // One connection first, not counted: it resolves the peer's link-layer address, so the measured burst does not
  // start with 128 SYNs queued behind one ARP request (a stack may hold only a few and drop the rest).
  await new Promise<void>((resolve) => {
    const s = ep.connect(o.host, o.port);
    const t = setTimeout(() => s.destroy(), 5000);
    s.on('connect', () => s.destroy());
    s.on('error', noop);
    s.on('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
  const gcForced = gcNow();
  await new Promise((r) => setTimeout(r, 100));
  gcNow();
  const m0 = process.memoryUsage();
  const cpu0 = process.cpuUsage();
  const t0 = now();
  let opened = 0;
  let started = 0;
  let pending = 0;
  const openMs = await new Promise<number>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      resolve(now() - t0);
    };
    const guard = setTimeout(finish, timeoutMs);
    const next = (): void => {
      while (!done && pending < inflight && started < o.count) {
        started++;
        pending++;
        const s = ep.connect(o.host, o.port);
        let settled = false;
        s.on('connect', () => {
          settled = true;
          pending--;
          opened++;
          idleSockets.add(s);
          if (opened === o.count) finish();
          else next();
        });
        s.on('error', (e) => {
          errors.add(e);
          if (!settled) {
            settled = true;
            pending--;
            // A failed attempt is not retried; the result says how many opened.
            if (started === o.count && pending === 0) finish();
            else next();
          }
        });
        s.on('close', () => idleSockets.delete(s));
      }
    };
    next();
  });
  const cpu = cpuMs(cpu0);
  await new Promise((r) => setTimeout(r, 300));
  gcNow();
  const m1 = process.memoryUsage();
  const per = (a: number, b: number): number => (opened ? Math.round((b - a) / opened) : NaN);
  return {
    requested: o.count,
    opened,
    openMs: Math.round(openMs),
    openPerSec: Math.round(opened / (openMs / 1000)),
    errors: errors.count,
    errorCodes: errors.codes,
    rssPerConn: per(m0.rss, m1.rss),
    heapPerConn: per(m0.heapUsed, m1.heapUsed),
    externalPerConn: per(m0.external, m1.external),
    gcForced,
    cpuMs: cpu,
  };
}

/** Closes every connection `tcpIdleOpen` left open; resolves with how many there were. */
export async function tcpIdleClose(): Promise<{ closed: number }> {
  const n = idleSockets.size;
  for (const s of idleSockets) s.destroy();
  idleSockets.clear();
  await new Promise((r) => setTimeout(r, 200));
  return { closed: n };
}
