/**
 * Runs one packetdrill script against a byway stack (NetStack) on an in-memory IP link and a virtual clock.
 *
 * Inbound packet lines are built byte for byte and injected on the link's far end; every packet the stack sends is
 * captured with the virtual time it left, and outbound lines are matched against the captured queue in order
 * (flags, seq, ack, window, options, payload length; time within the script's tolerance). System-call lines call
 * byway's sans-IO TCP (TcpLayer / TcpConnection); a call that would block runs on while later events happen and
 * is checked when it returns, as packetdrill's blocking calls are. `%{ }%` blocks are evaluated on `info()`.
 *
 * Contract: `runScript` never throws for a script's content; the result says PASS or FAIL with the first mismatch
 * (line, expected, actual, time). Settings the scripts make through shell lines become TCP options of the stack
 * (see settings.ts), never special cases in the TCP core.
 */
import { NetStack } from '../../src/stack/stack.js';
import { VirtualClock } from '../../src/stack/clock.js';
import { memoryLink, type MemoryDriver } from '../../drivers/memory/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { parseCidr, parseIpv4 } from '../../protocols/ipv4/address.js';
import { seededRng } from '../../protocols/util/rng.js';
import { write16, write32 } from '../../protocols/util/bytes.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { TcpListener } from '../../protocols/tcp/layer.js';
import type { TcpOptions } from '../../protocols/tcp/options.js';
import { BywayError } from '../../protocols/util/errors.js';
import { ParseError, formatOptions, parseScript, type CallArg, type CallSpec, type IcmpPacketSpec, type ScriptEvent, type TcpOptionSpec, type TcpPacketSpec } from './parse.js';
import { buildIcmpPacket, buildTcpPacket, encodeOptions, flagBits, flagText, readSegment, type SeenSegment } from './packets.js';
import { runPython, PyError, type PyValue } from './pyexpr.js';
import { settingsFor, type ScriptSettings } from './settings.js';
import { tcpInfoField } from './tcp-info.js';

export const LOCAL_IP = parseIpv4('192.168.0.1')!;
export const REMOTE_IP = parseIpv4('192.0.2.1')!;
const GATEWAY_IP = parseIpv4('192.168.0.2')!;
/** The script side's ephemeral port (packetdrill picks one; any works). */
export const SCRIPT_PORT = 40123;
export const SERVER_PORT = 8080;

export interface ScriptResult {
  readonly pass: boolean;
  /** The first mismatch (or the reason the script cannot run). */
  readonly message?: string;
  readonly line?: number;
  /** Virtual time (seconds since the script start) of the failure. */
  readonly time?: number;
}

export interface RunOptions {
  /** Called with a line per event and per packet sent, for --verbose. */
  readonly log?: (line: string) => void;
}

class ScriptFailure extends Error {
  constructor(
    message: string,
    readonly line: number | undefined,
  ) {
    super(message);
  }
}

interface Fd {
  readonly id: number;
  listener?: TcpListener;
  conn?: TcpConnection;
  nonblock: boolean;
  linger0: boolean;
  readShut: boolean;
  bound: boolean;
  noDelay?: boolean;
}

interface Outcome {
  result: number;
  errno?: string | undefined;
  /** A value a call returns through a pointer argument ([N]), checked against the script's. */
  out?: number;
}

interface Pending {
  readonly ev: ScriptEvent;
  readonly call: CallSpec;
  readonly start: number;
  readonly end: number;
  readonly tol: number;
  readonly attempt: (now: number) => Outcome | undefined;
}

/** The stack's end of the link: `blackhole` drops what it sends and says so (txCommit false), as a `limit 0` qdisc. */
class Tap implements FrameDriver {
  blackhole = false;
  dropped = 0;
  constructor(private readonly inner: MemoryDriver) {}
  get caps() {
    return this.inner.caps;
  }
  get stats() {
    return this.inner.stats;
  }
  receive(now: number, max: number, sink: Parameters<FrameDriver['receive']>[2]): number {
    return this.inner.receive(now, max, sink);
  }
  private scratch = new Uint8Array(65536);
  private dropping = false;
  txReserve(len: number): Uint8Array | null {
    this.dropping = this.blackhole;
    return this.dropping ? this.scratch.subarray(0, len) : this.inner.txReserve(len);
  }
  txCommit(now: number, len: number, segment?: number): boolean | void {
    if (this.dropping) {
      this.dropped++;
      this.dropping = false;
      return false; // the qdisc refused it: the send fails locally, as Linux's NET_XMIT_DROP
    }
    return this.inner.txCommit(now, len, segment);
  }
  flush(now: number): void {
    this.inner.flush(now);
  }
  pollAt(now: number): number | undefined {
    return this.inner.pollAt(now);
  }
  setReadyCallback(cb: (() => void) | null): void {
    this.inner.setReadyCallback(cb);
  }
  close(): void {
    this.inner.close();
  }
}

export function runScript(text: string, options: RunOptions = {}): ScriptResult {
  let ex: Execution | undefined;
  try {
    const script = parseScript(text);
    ex = new Execution(script.options, settingsFor(script), options.log);
    ex.run(script.events);
    return { pass: true };
  } catch (e) {
    const time = ex !== undefined ? ex.clock.now() / 1000 : undefined;
    ex?.logCounters();
    if (e instanceof ScriptFailure) return { pass: false, message: e.message, line: e.line, time };
    if (e instanceof ParseError) return { pass: false, message: `parse error: ${e.message}`, line: e.line };
    return { pass: false, message: `runner error: ${(e as Error).stack ?? String(e)}`, time };
  }
}

const ERRNO: Record<string, number> = { EPERM: 1, ENOENT: 2, EINTR: 4, EIO: 5, EAGAIN: 11, ENOMEM: 12, EINVAL: 22, EPIPE: 32, ENOTCONN: 107, ECONNRESET: 104, ETIMEDOUT: 110, ECONNREFUSED: 111, EHOSTUNREACH: 113, EINPROGRESS: 115, EALREADY: 114, EMSGSIZE: 90 };
const O_RDWR = 2;
const O_NONBLOCK = 0x800;

class Execution {
  readonly clock = new VirtualClock(0);
  private readonly peer: MemoryDriver;
  private readonly tap: Tap;
  private stack: NetStack | undefined;
  private readonly fds = new Map<number, Fd>();
  private nextFd = 3;
  private lastFd: number | undefined;
  private readonly captured: SeenSegment[] = [];
  private pending: Pending | undefined;
  private readonly tolUs: number;
  private readonly gso: number | undefined;
  private readonly tsTickUs: number;
  private localIsn = 0;
  private localIsnKnown = false;
  /** Inbound SYNs (without ACK) so far: each after the first opens a new passive connection. */
  private passiveSyns = 0;
  private readonly remoteIsn = 0;
  /** The flow under test: the stack's port and the script's. */
  private localPort = SERVER_PORT;
  private remotePort = SCRIPT_PORT;
  /** script TS val -> live TS val, from outbound packets. */
  private readonly tsMap = new Map<number, number>();
  private tsOffset = 0;
  private tsFirst: { script: number; live: number } | undefined;
  private readonly pyVars = new Map<string, PyValue>();
  private currentLine: number | undefined;

  constructor(
    opts: ReadonlyMap<string, string>,
    private readonly settings: ScriptSettings,
    private readonly log: ((line: string) => void) | undefined,
  ) {
    // The link carries packets larger than the stack's MTU: a script may inject a segment of any size, as
    // packetdrill's tun device takes it (the stack itself sends at most its 1500-byte MTU).
    const [a, b] = memoryLink({ medium: 'ip', mtu: 65535, queueLimit: 100_000, maxBatch: 1024 });
    this.tap = new Tap(a);
    this.peer = b;
    this.tolUs = opts.has('tolerance_usecs') ? Number(opts.get('tolerance_usecs')) : 4000;
    this.gso = opts.has('mss') ? Number(opts.get('mss')) : undefined;
    this.tsTickUs = opts.has('tcp_ts_tick_usecs') ? Number(opts.get('tcp_ts_tick_usecs')) : 0;
    for (const [k, v] of opts) {
      if (!['tolerance_usecs', 'mss', 'tcp_ts_tick_usecs', 'ip_version'].includes(k)) throw new ScriptFailure(`unsupported option --${k}`, undefined);
      if (k === 'ip_version' && v !== 'ipv4') throw new ScriptFailure(`unsupported --ip_version=${v}`, undefined);
    }
    for (const u of settings.unsupported) throw new ScriptFailure(`unsupported: ${u}`, undefined);
  }

  /** For --verbose: the TCP layer's non-zero counters (why a segment was dropped, what was retransmitted). */
  logCounters(): void {
    const stats = this.stack?.tcp?.stats;
    if (!this.log || !stats) return;
    const nonZero = Object.entries(stats).filter(([, v]) => typeof v === 'number' && v !== 0);
    this.log(`tcp counters: ${nonZero.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  }

  private fail(message: string): never {
    throw new ScriptFailure(message, this.currentLine);
  }

  private ensureStack(): NetStack {
    if (this.stack) return this.stack;
    const tcp: Partial<Omit<TcpOptions, 'rng'>> = { ...this.settings.tcp };
    this.stack = new NetStack({
      driver: this.tap,
      addresses: [parseCidr('192.168.0.1/16')!],
      gateway: GATEWAY_IP,
      mtu: 1500,
      rng: seededRng(0x5eed),
      tcp,
      gro: true,
    });
    this.stack.start(this.clock.now());
    return this.stack;
  }

  run(events: readonly ScriptEvent[]): void {
    let prev = 0; // ms: the time relative events count from
    for (const ev of events) {
      this.currentLine = ev.line;
      const a = ev.action;
      if (ev.time === undefined) continue; // a set-up shell line: settingsFor applied it before the stack was made
      const t = ev.time;
      const at = t.kind === 'abs' ? t.value * 1000 : t.kind === 'rel' ? prev + t.value * 1000 : this.clock.now();
      this.log?.(`${fmtTime(at)} ${ev.text}`);
      const tol = Math.max(this.tolUs / 1000, 0.125 * Math.max(0, at - prev));
      if (a.type === 'tcp' && a.direction === 'out') {
        let lo = at - tol;
        let hi = at + tol;
        if (t.kind === 'any') [lo, hi] = [-Infinity, this.clock.now() + 600_000];
        else if (t.rangeEnd) hi = (t.rangeEnd.relative ? prev : 0) + t.rangeEnd.value * 1000 + tol;
        const seen = this.expectTcp(a, ev, lo, hi, at);
        prev = seen;
        continue;
      }
      if (a.type === 'icmp' && a.direction === 'out') this.fail('outbound ICMP lines are not supported');
      this.advance(Math.max(at, this.clock.now()), false);
      const base = prev;
      prev = at;
      switch (a.type) {
        case 'tcp':
          this.injectTcp(a);
          break;
        case 'icmp':
          this.injectIcmp(a);
          break;
        case 'call':
          this.call(ev, a, at, t.blockingEnd !== undefined ? (t.kind === 'rel' ? base + t.blockingEnd * 1000 : t.blockingEnd * 1000) : undefined, tol);
          break;
        case 'code':
          this.code(a.code);
          break;
        case 'shell':
          this.shell(a.command);
          break;
      }
      this.settle();
    }
    if (this.pending) {
      this.advance(this.pending.end + this.pending.tol, false);
      if (this.pending) {
        this.currentLine = this.pending.ev.line;
        this.fail(`${this.pending.call.name}() still blocked at ${fmtTime(this.clock.now())}; expected to return at ${fmtTime(this.pending.end)}`);
      }
    }
  }

  // ====================================================================================== time

  /** Poll at the current time until the stack has nothing more to do now. */
  private settle(): void {
    this.advance(this.clock.now(), false);
  }

  /** Run the stack until `target` (inclusive), or until it sends a packet when `stopOnPacket`. */
  private advance(target: number, stopOnPacket: boolean): void {
    let spins = 0;
    for (;;) {
      const now = this.clock.now();
      const stack = this.stack;
      if (stack) {
        stack.poll(now);
        this.drain(now);
      }
      this.checkPending(now);
      if (stopOnPacket && this.captured.length > 0) return;
      let next = stack?.pollAt(now);
      if (next !== undefined && next <= now) {
        if (++spins < 4) continue;
        next = now + 1;
      }
      spins = 0;
      if (next === undefined || next > target) {
        if (now < target) {
          this.clock.set(target);
          continue;
        }
        return;
      }
      this.clock.set(next);
    }
  }

  private drain(now: number): void {
    this.peer.receive(now, 1 << 20, (frame) => {
      const s = readSegment(now, frame);
      if (s === undefined) {
        this.log?.(`${fmtTime(now)} (non-TCP packet sent, ${frame.length} bytes, ignored)`);
        return;
      }
      this.log?.(`${fmtTime(now)} sent ${this.describe(s)}`);
      this.captured.push(s);
    });
  }

  // ====================================================================================== packets

  private liveEcr(ecr: number): number {
    if (ecr === 0) return 0;
    return this.tsMap.get(ecr) ?? (ecr + this.tsOffset) >>> 0;
  }

  private injectTcp(p: TcpPacketSpec): void {
    this.ensureStack();
    const flags = flagBits(p.flags);
    if (p.flags === 'S' && this.passiveSyns++ > 0) {
      // A SYN to a listener after an earlier one starts a new connection: packetdrill gives it a new ephemeral port,
      // and the stack's next SYN-ACK gives its ISN.
      this.remotePort = SCRIPT_PORT + this.passiveSyns - 1;
      this.localIsnKnown = false;
    }
    const opts: TcpOptionSpec[] = [];
    for (const o of p.options === 'any' ? [] : (p.options ?? [])) {
      if (o.kind === 'TS') opts.push({ kind: 'TS', val: o.val, ecr: this.liveEcr(o.ecr) });
      else if (o.kind === 'sack') opts.push({ kind: 'sack', blocks: o.blocks.map(([l, r]) => [(l + this.localIsn) >>> 0, (r + this.localIsn) >>> 0] as const) });
      else opts.push(o);
    }
    const options = encodeOptions(opts);
    const seq = (p.seq + this.remoteIsn) >>> 0;
    const ack = ((p.ack ?? 0) + this.localIsn) >>> 0; // no `ack N`: 0, mapped like any ack
    const size = this.gso !== undefined && p.len > this.gso ? this.gso : Math.max(p.len, 1);
    const n = p.len === 0 ? 1 : Math.ceil(p.len / size);
    for (let i = 0; i < n; i++) {
      const off = i * size;
      const len = Math.min(size, p.len - off);
      const last = i === n - 1;
      const f = last ? flags : flags & ~(0x01 | 0x08); // FIN and PSH only on the last of a GSO train
      this.inject(
        buildTcpPacket({
          src: REMOTE_IP,
          dst: LOCAL_IP,
          srcPort: this.remotePort,
          dstPort: this.localPort,
          seq: (seq + off) >>> 0,
          ack,
          flags: f,
          window: p.win ?? 0,
          options,
          payloadLen: Math.max(0, len),
        }),
      );
    }
  }

  private injectIcmp(p: IcmpPacketSpec): void {
    this.ensureStack();
    // The quoted datagram: our IP header and the first 8 bytes of TCP (ports, sequence number). Without a
    // `[seq:end(len)]` the sequence number is the script's 0 (the connection's ISN) and no payload, as packetdrill
    // builds it: a sequence number that is not in flight, which RFC 5927 says to ignore.
    const q = p.quoted ?? { seq: 0, len: 0 };
    const quote = new Uint8Array(28);
    quote[0] = 0x45;
    write16(quote, 2, 40 + q.len);
    quote[8] = 64;
    quote[9] = 6;
    write32(quote, 12, LOCAL_IP);
    write32(quote, 16, REMOTE_IP);
    write16(quote, 20, this.localPort);
    write16(quote, 22, this.remotePort);
    write32(quote, 24, (q.seq + this.localIsn) >>> 0);
    const rest = p.icmpType === 3 && p.icmpCode === 4 ? (p.mtu ?? 0) & 0xffff : 0;
    this.inject(buildIcmpPacket(REMOTE_IP, LOCAL_IP, p.icmpType, p.icmpCode, rest, quote));
  }

  private inject(pkt: Uint8Array): void {
    const buf = this.peer.txReserve(pkt.length);
    if (buf === null) this.fail('the link refused an inbound packet');
    buf.set(pkt);
    this.peer.txCommit(this.clock.now(), pkt.length);
  }

  private describe(s: SeenSegment): string {
    const seq = (s.seq - this.localIsn) >>> 0;
    const ack = (s.ack - this.remoteIsn) >>> 0;
    const opts = s.options.map((o) =>
      o.kind === 'sack' ? { kind: 'sack' as const, blocks: o.blocks.map(([l, r]) => [(l - this.remoteIsn) >>> 0, (r - this.remoteIsn) >>> 0] as const) } : o,
    );
    return `${flagText(s.flags)} ${seq}:${(seq + s.payloadLen) >>> 0}(${s.payloadLen})${s.flags & 0x10 ? ` ack ${ack}` : ''} win ${s.window}${opts.length ? ` <${formatOptions(opts)}>` : ''}`;
  }

  /** Wait for the stack's next packets and match them to `p`; returns the time the (first) packet left. */
  private expectTcp(p: TcpPacketSpec, ev: ScriptEvent, lo: number, hi: number, at: number): number {
    const expected = `expected '${ev.text}' at ${fmtTime(at)}`;
    if (this.captured.length === 0) this.advance(Math.max(hi, this.clock.now()), true);
    const first = this.captured.shift();
    if (first === undefined) this.fail(`${expected}: nothing was sent by ${fmtTime(this.clock.now())}`);
    if (first.time < lo) this.fail(`${expected}: sent too early at ${fmtTime(first.time)}: '${this.describe(first)}'`);
    if (first.time > hi) this.fail(`${expected}: sent too late at ${fmtTime(first.time)}: '${this.describe(first)}'`);
    const segs = [first];
    if (p.flags.includes('S') && !this.localIsnKnown) {
      this.localIsn = (first.seq - p.seq) >>> 0;
      this.localIsnKnown = true;
    }
    let total = first.payloadLen;
    while (total < p.len) {
      if (this.captured.length === 0) this.advance(Math.max(hi, this.clock.now()), true);
      const s = this.captured.shift();
      if (s === undefined) this.fail(`${expected}: only ${total} of ${p.len} bytes sent by ${fmtTime(this.clock.now())} (first '${this.describe(first)}')`);
      const last = segs[segs.length - 1]!;
      if (s.seq !== ((last.seq + last.payloadLen) >>> 0) || s.time > hi) {
        this.fail(`${expected}: after ${total} bytes got '${this.describe(s)}' at ${fmtTime(s.time)}`);
      }
      segs.push(s);
      total += s.payloadLen;
    }
    const last = segs[segs.length - 1]!;
    const actual = segs.length === 1 ? `'${this.describe(first)}'` : `${segs.length} segments from ${(first.seq - this.localIsn) >>> 0}, last '${this.describe(last)}'`;
    const bad = (what: string): never => this.fail(`${expected}: ${what}; actual ${actual} at ${fmtTime(first.time)}`);
    if (last.flags !== flagBits(p.flags)) bad(`flags ${flagText(last.flags)} instead of ${p.flags}`);
    if (((first.seq - this.localIsn) >>> 0) !== p.seq) bad('wrong sequence number');
    if (total !== p.len) bad(`${total} bytes instead of ${p.len}`);
    if (p.ack !== undefined && ((last.ack - this.remoteIsn) >>> 0) !== p.ack) bad('wrong ack');
    if (p.win !== undefined && last.window !== p.win) bad(`win ${last.window} instead of ${p.win}`);
    if (p.options !== 'any') this.matchOptions(p.options ?? [], last.options, bad);
    return first.time;
  }

  private matchOptions(want: readonly TcpOptionSpec[], got: readonly TcpOptionSpec[], bad: (what: string) => never): void {
    const w = formatOptions(want);
    if (want.length !== got.length) bad(`options <${formatOptions(got)}> instead of <${w}>`);
    for (let i = 0; i < want.length; i++) {
      const a = want[i]!;
      const b = got[i]!;
      if (a.kind !== b.kind) bad(`options <${formatOptions(got)}> instead of <${w}>`);
      if ((a.kind === 'mss' || a.kind === 'wscale') && b.kind === a.kind && a.value !== b.value) bad(`${a.kind} ${b.value} instead of ${a.value}`);
      if (a.kind === 'sack' && b.kind === 'sack') {
        const live = b.blocks.map(([l, r]) => `${(l - this.remoteIsn) >>> 0}:${(r - this.remoteIsn) >>> 0}`).join(' ');
        const exp = a.blocks.map(([l, r]) => `${l}:${r}`).join(' ');
        if (live !== exp) bad(`sack ${live} instead of ${exp}`);
      }
      if (a.kind === 'TS' && b.kind === 'TS') {
        if (b.ecr !== a.ecr) bad(`TS ecr ${b.ecr} instead of ${a.ecr}`);
        if (this.tsTickUs > 0 && this.tsFirst) {
          const predicted = (this.tsFirst.live + Math.round(((a.val - this.tsFirst.script) * this.tsTickUs) / 1000)) >>> 0;
          const slack = Math.ceil(this.tolUs / 1000) + 1;
          if (Math.abs((b.val - predicted) | 0) > slack) bad(`TS val ${b.val} is ${(b.val - this.tsFirst.live) | 0} ticks after the first, script says ${a.val - this.tsFirst.script}`);
        }
        this.tsFirst ??= { script: a.val, live: b.val };
        this.tsMap.set(a.val, b.val);
        this.tsOffset = (b.val - a.val) | 0;
      }
    }
  }

  // ====================================================================================== calls

  private fd(arg: CallArg | undefined): Fd {
    if (arg?.kind !== 'num') this.fail('expected a file descriptor');
    const fd = this.fds.get(arg.value);
    if (!fd) this.fail(`no file descriptor ${arg.value}`);
    this.lastFd = arg.value;
    return fd;
  }

  /** The script's file descriptor numbers are its own (the kernel selftests start at 4): take the expected one. */
  private newFd(expected: number): number {
    const id = Number.isInteger(expected) && expected >= 0 && !this.fds.has(expected) ? expected : this.nextFd;
    this.nextFd = Math.max(this.nextFd, id) + 1;
    return id;
  }

  private conn(fd: Fd): TcpConnection {
    if (!fd.conn) this.fail(`fd ${fd.id} is not a connected socket`);
    return fd.conn;
  }

  private call(ev: ScriptEvent, c: CallSpec, at: number, blockingEnd: number | undefined, tol: number): void {
    if (this.pending) {
      // A second call waits for the blocked one to return (one thread of calls, as in the scripts).
      const p = this.pending;
      this.advance(p.end + p.tol, false);
      if (this.pending) {
        this.currentLine = p.ev.line;
        this.fail(`${p.call.name}() still blocked at ${fmtTime(this.clock.now())}; expected to return at ${fmtTime(p.end)}`);
      }
      this.currentLine = ev.line;
    }
    const attempt = this.callAttempt(c);
    const now = this.clock.now();
    const out = attempt(now);
    if (out !== undefined) {
      this.checkOutcome(c, out);
      if (blockingEnd !== undefined && Math.abs(now - blockingEnd) > tol) {
        this.fail(`${c.name}() returned at ${fmtTime(now)}, expected at ${fmtTime(blockingEnd)}`);
      }
      return;
    }
    const end = blockingEnd ?? at;
    this.pending = { ev, call: c, start: now, end, tol: Math.max(this.tolUs / 1000, 0.125 * (end - now)), attempt };
  }

  private checkPending(now: number): void {
    const p = this.pending;
    if (!p) return;
    const out = p.attempt(now);
    if (out === undefined) return;
    this.pending = undefined;
    const line = this.currentLine;
    this.currentLine = p.ev.line;
    this.checkOutcome(p.call, out);
    if (Math.abs(now - p.end) > p.tol) this.fail(`${p.call.name}() returned at ${fmtTime(now)}, expected at ${fmtTime(p.end)}`);
    this.currentLine = line;
  }

  private checkOutcome(c: CallSpec, out: Outcome): void {
    const got = out.errno ? `${out.result} ${out.errno}` : String(out.result);
    const want = c.errno ? `${c.result} ${c.errno}` : String(c.result);
    if (!Number.isNaN(c.result) && got !== want) this.fail(`${c.name}() returned ${got}, expected ${want}`);
    if (out.out !== undefined) {
      const ptr = c.args.find((a, i) => i >= 3 && a.kind === 'list');
      const v = ptr?.kind === 'list' && ptr.items[0]?.kind === 'num' ? ptr.items[0].value : undefined;
      if (v !== undefined && v !== out.out) this.fail(`${c.name}() gave [${out.out}], expected [${v}]`);
    }
  }

  /** The call as a function of time: returns its outcome, or undefined while it would block. */
  private callAttempt(c: CallSpec): (now: number) => Outcome | undefined {
    const a = c.args;
    const done = (o: Outcome) => () => o;
    const errno = (e: unknown): Outcome => {
      if (e instanceof BywayError) return { result: -1, errno: e.code };
      throw e;
    };
    const sym = (i: number): string => {
      const x = a[i];
      return x?.kind === 'sym' ? x.names.join('|') : '';
    };
    const intArg = (i: number): number => {
      const x = a[i];
      if (x?.kind === 'num') return x.value;
      if (x?.kind === 'list' && x.items[0]?.kind === 'num') return x.items[0].value;
      this.fail(`${c.name}: argument ${i + 1} must be a number`);
    };
    switch (c.name) {
      case 'socket': {
        const id = this.newFd(c.result);
        this.fds.set(id, { id, nonblock: false, linger0: false, readShut: false, bound: false });
        this.lastFd = id;
        return done({ result: id });
      }
      case 'bind': {
        const fd = this.fd(a[0]);
        fd.bound = true;
        return done({ result: 0 });
      }
      case 'listen': {
        const fd = this.fd(a[0]);
        const stack = this.ensureStack();
        try {
          fd.listener = stack.tcp!.listen(LOCAL_IP, SERVER_PORT, Math.max(1, intArg(1)));
        } catch (e) {
          return done(errno(e));
        }
        this.localPort = SERVER_PORT;
        this.remotePort = SCRIPT_PORT;
        return done({ result: 0 });
      }
      case 'accept': {
        const fd = this.fd(a[0]);
        const l = fd.listener;
        if (!l) this.fail(`accept on fd ${fd.id}, not a listener`);
        return () => {
          const conn = l.accept();
          if (!conn) return fd.nonblock ? { result: -1, errno: 'EAGAIN' } : undefined;
          const id = this.newFd(c.result);
          this.fds.set(id, { id, conn, nonblock: false, linger0: false, readShut: false, bound: true, noDelay: fd.noDelay });
          this.lastFd = id;
          return { result: id };
        };
      }
      case 'connect': {
        const fd = this.fd(a[0]);
        const stack = this.ensureStack();
        try {
          fd.conn = stack.tcp!.connect(this.clock.now(), REMOTE_IP, SERVER_PORT, fd.noDelay !== undefined ? { noDelay: fd.noDelay } : {});
        } catch (e) {
          return done(errno(e));
        }
        this.localPort = fd.conn.localPort;
        this.remotePort = SERVER_PORT;
        this.localIsnKnown = false;
        const conn = fd.conn;
        if (fd.nonblock) return done({ result: -1, errno: 'EINPROGRESS' });
        return () => {
          if (conn.state === 'SYN-SENT' || conn.state === 'SYN-RECEIVED') return undefined;
          if (conn.state === 'CLOSED') return { result: -1, errno: conn.error ?? 'ECONNREFUSED' };
          return { result: 0 };
        };
      }
      case 'fcntl': {
        const fd = this.fd(a[0]);
        const cmd = sym(1);
        if (cmd === 'F_SETFL') {
          const names = a[2]?.kind === 'sym' ? a[2].names : [];
          fd.nonblock = names.includes('O_NONBLOCK');
          return done({ result: 0 });
        }
        if (cmd === 'F_GETFL') return done({ result: O_RDWR | (fd.nonblock ? O_NONBLOCK : 0) });
        this.fail(`unsupported fcntl ${cmd}`);
        break;
      }
      case 'write':
      case 'send': {
        const fd = this.fd(a[0]);
        const n = intArg(2);
        const more = c.name === 'send' && sym(3) === 'MSG_MORE';
        if (c.name === 'send' && a[3] && !more && !(a[3].kind === 'num' && a[3].value === 0)) this.fail(`unsupported send flags ${sym(3) || 'non-zero'}`);
        const conn = this.conn(fd);
        let sent = 0;
        return (now) => {
          try {
            sent += conn.send(now, new Uint8Array(n - sent), more);
          } catch (e) {
            return sent > 0 ? { result: sent } : errno(e);
          }
          if (sent === n) return { result: n };
          if (fd.nonblock) return sent > 0 ? { result: sent } : { result: -1, errno: 'EAGAIN' };
          return undefined;
        };
      }
      case 'read':
      case 'recv': {
        const fd = this.fd(a[0]);
        const n = intArg(2);
        const conn = this.conn(fd);
        return (now) => {
          if (fd.readShut) return { result: 0 };
          const got = conn.read(now, new Uint8Array(n));
          if (got > 0) return { result: got };
          if (conn.readableEnded) return { result: 0 };
          if (conn.state === 'CLOSED') return conn.error ? { result: -1, errno: conn.error } : { result: 0 };
          return fd.nonblock ? { result: -1, errno: 'EAGAIN' } : undefined;
        };
      }
      case 'close': {
        const fd = this.fd(a[0]);
        const now = this.clock.now();
        if (fd.listener) fd.listener.close(now);
        if (fd.conn) {
          if (fd.linger0) fd.conn.abort(now);
          else fd.conn.close(now);
        }
        this.fds.delete(fd.id);
        return done({ result: 0 });
      }
      case 'shutdown': {
        const fd = this.fd(a[0]);
        const how = sym(1);
        const conn = this.conn(fd);
        if (how === 'SHUT_RD' || how === 'SHUT_RDWR') fd.readShut = true;
        if (how === 'SHUT_WR' || how === 'SHUT_RDWR') conn.shutdown(this.clock.now());
        if (!['SHUT_RD', 'SHUT_WR', 'SHUT_RDWR'].includes(how)) this.fail(`bad shutdown ${how}`);
        return done({ result: 0 });
      }
      case 'setsockopt':
        return done(this.setsockopt(this.fd(a[0]), sym(1), sym(2), a[3], c));
      case 'getsockopt':
        return done(this.getsockopt(this.fd(a[0]), sym(1), sym(2)));
      case 'ioctl': {
        const fd = this.fd(a[0]);
        if (sym(1) !== 'SIOCINQ') this.fail(`unsupported ioctl ${sym(1)}`);
        return done({ result: 0, out: this.conn(fd).readableLength });
      }
      default:
        this.fail(`unsupported system call ${c.name}()`);
    }
  }

  private setsockopt(fd: Fd, level: string, name: string, v: CallArg | undefined, c: CallSpec): Outcome {
    const value = v?.kind === 'list' && v.items[0]?.kind === 'num' ? v.items[0].value : undefined;
    switch (`${level}.${name}`) {
      case 'SOL_SOCKET.SO_REUSEADDR':
        return { result: 0 };
      case 'SOL_SOCKET.SO_SNDBUF':
      case 'SOL_SOCKET.SO_RCVBUF':
        // byway's buffers are options of the stack: settings.ts applied the script's values when it was made.
        return { result: 0 };
      case 'SOL_SOCKET.SO_LINGER': {
        const f = v?.kind === 'struct' ? v.fields : undefined;
        const on = f?.get('onoff');
        const linger = f?.get('linger');
        if (on?.kind !== 'num' || linger?.kind !== 'num') this.fail('SO_LINGER needs {onoff=N, linger=N}');
        if (on.value !== 0 && linger.value !== 0) this.fail('SO_LINGER with a non-zero time is not supported');
        fd.linger0 = on.value !== 0;
        return { result: 0 };
      }
      case 'SOL_TCP.TCP_USER_TIMEOUT':
        if (value === undefined) this.fail('TCP_USER_TIMEOUT needs [ms]');
        this.conn(fd).setUserTimeout(value);
        return { result: 0 };
      case 'SOL_TCP.TCP_MAXSEG':
        if (value === undefined) this.fail('TCP_MAXSEG needs [N]');
        if (!fd.listener) this.fail('TCP_MAXSEG is supported on a listening socket only');
        fd.listener.maxSeg = value;
        return { result: 0 };
      case 'SOL_TCP.TCP_CORK':
        if (value === undefined) this.fail('TCP_CORK needs [0|1]');
        this.conn(fd).setCork(value !== 0, this.clock.now());
        return { result: 0 };
      case 'SOL_TCP.TCP_NODELAY':
        if (value === undefined) this.fail('TCP_NODELAY needs [0|1]');
        fd.noDelay = value !== 0;
        fd.conn?.setNoDelay(value !== 0, this.clock.now());
        return { result: 0 };
      default:
        this.fail(`unsupported setsockopt ${level} ${name} (${c.args.length} args)`);
    }
  }

  private getsockopt(fd: Fd, level: string, name: string): Outcome {
    switch (`${level}.${name}`) {
      case 'SOL_SOCKET.SO_ERROR': {
        const e = fd.conn?.state === 'CLOSED' ? fd.conn.error : undefined;
        return { result: 0, out: e ? (ERRNO[e] ?? -1) : 0 };
      }
      case 'SOL_SOCKET.SO_RCVBUF':
        return { result: 0, out: fd.conn?.info().receiveBuffer ?? this.ensureStack().tcp!.opts.receiveBuffer };
      case 'SOL_SOCKET.SO_SNDBUF':
        return { result: 0, out: fd.conn?.info().sendBuffer ?? this.ensureStack().tcp!.opts.sendBuffer };
      case 'SOL_TCP.TCP_MAXSEG': {
        if (!fd.conn && fd.listener) return { result: 0, out: fd.listener.maxSeg > 0 ? fd.listener.maxSeg : 536 }; // Linux: user_mss, else TCP_MSS_DEFAULT
        if (!fd.conn) this.fail('TCP_MAXSEG on a socket without a connection is not supported');
        return { result: 0, out: fd.conn.info().sndMss };
      }
      default:
        this.fail(`unsupported getsockopt ${level} ${name}`);
    }
  }

  // ====================================================================================== code, shell

  private code(code: string): void {
    const fd = this.lastFd !== undefined ? this.fds.get(this.lastFd) : undefined;
    const conn = fd?.conn;
    let msg: string | undefined;
    try {
      msg = runPython(
        code,
        this.pyVars,
        (name) => (name.startsWith('tcpi_') ? (conn ? tcpInfoField(conn, name, this.clock.now()) : undefined) : CONSTANTS[name]),
        (text) => this.log?.(`print: ${text}`),
      );
    } catch (e) {
      if (e instanceof PyError) this.fail(`%{ }%: ${e.message}${conn ? '' : ' (no connection on the last fd)'}`);
      throw e;
    }
    if (msg !== undefined) this.fail(msg);
  }

  private shell(command: string): void {
    const r = this.settings.shell(command.trim());
    if (r === 'blackhole') this.tap.blackhole = true;
    else if (r === 'unblock') this.tap.blackhole = false;
    else if (typeof r === 'string') this.fail(`unsupported shell command: ${r}`);
  }
}

const CONSTANTS: Record<string, number> = {
  TCP_CA_Open: 0,
  TCP_CA_Disorder: 1,
  TCP_CA_CWR: 2,
  TCP_CA_Recovery: 3,
  TCP_CA_Loss: 4,
  TCP_INFINITE_SSTHRESH: 0x7fffffff,
};

function fmtTime(ms: number): string {
  return `${(ms / 1000).toFixed(6)}`;
}
