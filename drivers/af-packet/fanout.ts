/**
 * Flow steering for a PACKET_FANOUT group in 'cbpf' mode: a classic BPF program, run by the kernel on every
 * received packet (`fanout_demux_bpf`), picks the group member, so byway knows which worker gets which flow. The
 * kernel's own 'hash' mode uses a flow hash keyed with a random secret of the running kernel, which user space
 * cannot compute; with this program the choice is a function byway computes too (`flowWorker`), so a worker can
 * pick ephemeral ports whose return traffic comes back to it, and tests can predict the member of each flow.
 *
 * The rule, for a packet received by byway's address (the kernel runs the program with the packet at its network
 * header):
 * - IPv4 TCP or UDP, not a fragment, destination port inside the shared ephemeral range [low, high]: the worker
 *   that owns that slice of the range, `floor((port - low) / slice)`, slice = ceil((high - low + 1) / workers).
 *   Each worker takes its ephemeral ports from its own slice (`workerEphemeralRange`), for TCP and UDP alike.
 * - IPv4 TCP or UDP, not a fragment, any other destination port (a service port every worker listens on): a
 *   hash of the source address and port, `((saddr ^ sport) * 0x9e3779b1 >>> 16) % workers`, which spreads clients.
 * - ICMP (not a fragment) about one of byway's flows goes where that flow goes: an echo reply whose identifier is
 *   inside the ephemeral range to that slice's worker (each worker's pings carry an identifier from its slice); an
 *   error (destination unreachable, source quench, time exceeded, parameter problem) by the packet it quotes, which
 *   byway sent: a quoted TCP/UDP source port (byway's) inside the range to its slice's worker, any other quoted
 *   TCP/UDP port by the hash of the quoted destination address and port (the client of a service flow, so the
 *   worker serving it); a quoted echo request by its identifier like an echo reply.
 * - Any other IPv4 packet (a fragment, other ICMP, another protocol): the same hash of the source address alone, so
 *   the fragments of one datagram stay together.
 * - IPv6 TCP or UDP, behind the fixed header and at most IPV6_EXT_WALK hop-by-hop, routing and destination options
 *   headers (walked by their Hdr Ext Len, RFC 8200 4.3-4.6; since the tenth session of 2026-12-04, before which any
 *   extension header sent the packet to worker 0): as IPv4's, an ephemeral destination port to its slice's worker,
 *   any other (a service port) by `((s0 ^ s1 ^ s2 ^ s3 ^ sport) * 0x9e3779b1 >>> 16) % workers`, s0..s3 the source
 *   address's four 32-bit words; an ICMPv6 echo reply whose identifier is in the range to that slice's worker. So
 *   IPv6 clients of a service port go by the service table like IPv4's (before 2026-12-04 all IPv6 went by worker
 *   0's slot, and a new worker 0 that had joined but did not listen yet refused every new IPv6 client).
 * - An IPv6 fragment header (where the walk meets it): the source address's words alone, through the service
 *   table, for every fragment, the first one too though it carries the ports, so all the fragments of a datagram
 *   reach one worker, which reassembles it (as IPv4's fragments go by the source address). What that worker does
 *   with the datagram: docs/scaling.md (a datagram for another worker's ephemeral slice is not handed on).
 * - Anything else (ARP, NDP and the other ICMPv6, a longer chain of extension headers, other EtherTypes): worker
 *   0. A fanout cluster's workers relay the neighbour and router advertisements and ICMPv6 errors among them
 *   (src/cluster/plan.ts `fanoutRelays`), as they relay ARP.
 * The worker number then goes through `slots` (worker -> member index in the kernel's group, identity by
 * default), and the kernel takes it modulo the number of members. The hashed classes (service ports, and other
 * IPv4 by address) go through `serviceSlots` instead when it is given: a worker whose socket is in the group but
 * whose program does not listen yet (a worker process starting, src/cluster/processes.ts) keeps its ephemeral
 * slice while its share of the clients goes to another member. The kernel keeps members in the order they
 * joined and, when one leaves, moves the last into its place (`__fanout_unlink`): whoever manages the group
 * passes the slots that match (src/cluster).
 *
 * Built in TypeScript like filter.ts; the addon only hands the bytes to PACKET_FANOUT_DATA. `runFanoutProgram` is
 * an interpreter of the instructions used here, for tests without a kernel.
 */

// Classic BPF opcodes (linux/filter.h).
const LD = 0x00, LDX = 0x01, ST = 0x02, ALU = 0x04, JMP = 0x05, RET = 0x06, MISC = 0x07;
const W = 0x00, H = 0x08, B = 0x10;
const IMM = 0x00, ABS = 0x20, IND = 0x40, MEM = 0x60, MSH = 0xa0;
const ADD = 0x00, SUB = 0x10, MUL = 0x20, DIV = 0x30, AND = 0x50, RSH = 0x70, MOD = 0x90, XOR = 0xa0;
const JEQ = 0x10, JGT = 0x20, JGE = 0x30, JSET = 0x40;
const K = 0x00, X = 0x08, A = 0x10;
const TAX = 0x00;
/** SKF_AD_OFF + SKF_AD_PROTOCOL: skb->protocol (the EtherType), in host order. */
const AD_PROTOCOL = 0xfffff000;

const HASH_MUL = 0x9e3779b1;

export interface FlowSteeringSpec {
  /** Number of workers (1..256). */
  readonly workers: number;
  /** The ephemeral range the workers share (default 49152..65535). */
  readonly ephemeralLow?: number;
  readonly ephemeralHigh?: number;
  /** Worker -> member index in the kernel's fanout group (default: worker i is member i). */
  readonly slots?: readonly number[];
  /** Worker -> member index for the hashed classes (service ports, other IPv4); default: `slots`. */
  readonly serviceSlots?: readonly number[];
}

interface Resolved {
  readonly workers: number;
  readonly low: number;
  readonly high: number;
  readonly slice: number;
  readonly slots: readonly number[];
  readonly serviceSlots: readonly number[];
}

function resolve(spec: FlowSteeringSpec): Resolved {
  const workers = spec.workers;
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new RangeError(`workers must be 1..256, got ${workers}`);
  const low = spec.ephemeralLow ?? 49152;
  const high = spec.ephemeralHigh ?? 65535;
  if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || high - low + 1 < workers) {
    throw new RangeError(`ephemeral range ${low}..${high} must be inside 1..65535 with at least one port per worker`);
  }
  const slots = spec.slots ?? Array.from({ length: workers }, (_, i) => i);
  const serviceSlots = spec.serviceSlots ?? slots;
  for (const t of [slots, serviceSlots]) {
    if (t.length !== workers || t.some((s) => !Number.isInteger(s) || s < 0 || s > 0xffff)) {
      throw new RangeError('slots and serviceSlots must give a member index (0..65535) for every worker');
    }
  }
  return { workers, low, high, slice: Math.ceil((high - low + 1) / workers), slots, serviceSlots };
}

/** Worker `index`'s own slice of the shared ephemeral range: its TCP and UDP ephemeral ports. */
export function workerEphemeralRange(spec: FlowSteeringSpec, index: number): { low: number; high: number } {
  const r = resolve(spec);
  if (!Number.isInteger(index) || index < 0 || index >= r.workers) throw new RangeError(`worker index must be 0..${r.workers - 1}`);
  const low = r.low + index * r.slice;
  return { low, high: Math.min(r.high, low + r.slice - 1) };
}

const hash = (v: number, workers: number): number => ((Math.imul(v, HASH_MUL) >>> 16) % workers);

/**
 * The worker a received packet belongs to, by the rule above. `etherType` is the frame's EtherType, `ip` the
 * bytes from its network header on. This is what the program computes before the slot table.
 */
export function flowWorker(spec: FlowSteeringSpec, etherType: number, ip: Uint8Array): number {
  return flowClass(spec, etherType, ip)?.worker ?? 0;
}

/**
 * The worker and the slot table the program looks it up in ('slots': an ephemeral slice, an echo reply's
 * identifier, and ARP, NDP and the rest as worker 0; 'service': the hashed classes), or undefined where the program reads past the packet's end (the
 * kernel then ends it with 0: member 0, whatever the tables say).
 */
export function flowClass(spec: FlowSteeringSpec, etherType: number, ip: Uint8Array): { worker: number; table: 'slots' | 'service' } | undefined {
  const r = resolve(spec);
  if (etherType !== 0x0800 && etherType !== 0x86dd) return { worker: 0, table: 'slots' };
  const at = (o: number, n: 1 | 2 | 4): number | undefined =>
    o + n > ip.length ? undefined : n === 1 ? ip[o]! : n === 2 ? (ip[o]! << 8) | ip[o + 1]! : ((ip[o]! << 24) | (ip[o + 1]! << 16) | (ip[o + 2]! << 8) | ip[o + 3]!) >>> 0;
  if (etherType === 0x86dd) return flowClass6(r, at);
  const flags = at(6, 2);
  const proto = at(9, 1);
  if (flags === undefined || proto === undefined) return undefined;
  const fragment = (flags & 0x3fff) !== 0;
  const l4 = (ip[0]! & 0x0f) * 4;
  const slice = (port: number) => ({ worker: Math.floor((port - r.low) / r.slice), table: 'slots' as const });
  const hashed = (v: number | undefined) => (v === undefined ? undefined : { worker: hash(v >>> 0, r.workers), table: 'service' as const });
  const inRange = (port: number): boolean => port >= r.low && port <= r.high;
  const byAddress = () => hashed(at(12, 4));
  if (fragment || (proto !== 6 && proto !== 17 && proto !== 1)) return byAddress();
  if (proto === 1) {
    const type = at(l4, 1);
    if (type === undefined) return undefined;
    if (type === 0) {
      const ident = at(l4 + 4, 2);
      if (ident === undefined) return undefined;
      return inRange(ident) ? slice(ident) : byAddress();
    }
    if (!ICMP_ERRORS.includes(type)) return byAddress();
    // The program's load order: the quoted destination address, protocol and IHL, then its ports or identifier.
    const q = l4 + 8;
    const qdaddr = at(q + 16, 4);
    const qproto = at(q + 9, 1);
    const qvi = at(q, 1);
    if (qdaddr === undefined || qproto === undefined || qvi === undefined) return undefined;
    const ql4 = q + (qvi & 0x0f) * 4;
    if (qproto === 6 || qproto === 17) {
      const qsport = at(ql4, 2);
      if (qsport === undefined) return undefined;
      if (inRange(qsport)) return slice(qsport);
      const qdport = at(ql4 + 2, 2);
      return qdport === undefined ? undefined : hashed(qdaddr ^ qdport);
    }
    if (qproto !== 1) return byAddress();
    const qident = at(ql4 + 4, 2);
    if (qident === undefined) return undefined;
    return inRange(qident) ? slice(qident) : byAddress();
  }
  const dport = at(l4 + 2, 2);
  if (dport === undefined) return undefined;
  if (inRange(dport)) return slice(dport);
  const sport = at(l4, 2)!;
  const saddr = at(12, 4);
  return saddr === undefined ? undefined : hashed(saddr ^ sport);
}

/** How many IPv6 extension headers (hop-by-hop, routing, destination options) the program walks before giving up. */
export const IPV6_EXT_WALK = 4;

/** `flowClass` for IPv6 (the packet's loads through `at`, in the program's order). */
function flowClass6(r: Resolved, at: (o: number, n: 1 | 2 | 4) => number | undefined): { worker: number; table: 'slots' | 'service' } | undefined {
  let next = at(6, 1);
  if (next === undefined) return undefined;
  const slice = (port: number) => ({ worker: Math.floor((port - r.low) / r.slice), table: 'slots' as const });
  const w0 = { worker: 0, table: 'slots' as const };
  const words = (v: number): { worker: number; table: 'service' } | undefined => {
    for (const o of [8, 12, 16, 20]) {
      const w = at(o, 4);
      if (w === undefined) return undefined;
      v ^= w;
    }
    return { worker: hash(v >>> 0, r.workers), table: 'service' };
  };
  let x = 40;
  for (let i = 0; ; i++) {
    if (next === 6 || next === 17) {
      const dport = at(x + 2, 2);
      if (dport === undefined) return undefined;
      if (dport >= r.low && dport <= r.high) return slice(dport);
      const sport = at(x, 2);
      return sport === undefined ? undefined : words(sport);
    }
    if (next === 58) {
      const type = at(x, 1);
      if (type === undefined) return undefined;
      if (type !== 129) return w0;
      const ident = at(x + 4, 2);
      if (ident === undefined) return undefined;
      return ident >= r.low && ident <= r.high ? slice(ident) : w0;
    }
    if (next === 44) return words(0); // a fragment: by the source address
    if (i === IPV6_EXT_WALK || (next !== 0 && next !== 43 && next !== 60)) return w0;
    const len = at(x + 1, 1);
    if (len === undefined) return undefined;
    next = at(x, 1);
    if (next === undefined) return undefined;
    x += (len + 1) * 8;
  }
}

/** ICMP types that quote the packet they answer (RFC 792): destination unreachable, source quench, time exceeded, parameter problem. */
export const ICMP_ERRORS: readonly number[] = [3, 4, 11, 12];

type Insn = { code: number; jt: number | string; jf: number | string; k: number; label?: string };

/** Bytes of the classic BPF program for PACKET_FANOUT_DATA (PACKET_FANOUT_CBPF). */
export function buildFanoutProgram(spec: FlowSteeringSpec): Uint8Array {
  const r = resolve(spec);
  const p: Insn[] = [];
  const op = (code: number, k = 0, label?: string): void => {
    p.push({ code, jt: 0, jf: 0, k: k >>> 0, ...(label ? { label } : {}) });
  };
  const jmp = (code: number, k: number, jt: number | string, jf: number | string, label?: string): void => {
    p.push({ code: JMP | code | K, jt, jf, k: k >>> 0, ...(label ? { label } : {}) });
  };
  op(LD | H | ABS, AD_PROTOCOL);
  jmp(JEQ, 0x0800, 'ipv4', 0);
  jmp(JEQ, 0x86dd, 0, 'w0');
  // IPv6: X is the offset of the header whose type A holds. Walk at most IPV6_EXT_WALK extension headers (hop-by-hop,
  // routing, destination options: their length at X + 1), unrolled (classic BPF jumps only forward); then TCP or UDP
  // by its ports, an ICMPv6 echo reply by its identifier, a fragment header by the source address (every fragment of
  // a datagram, the first too, to one worker, which reassembles it), anything else (NDP, a longer chain) to worker 0.
  op(LD | B | ABS, 6); // next header
  op(LDX | W | IMM, 40);
  for (let i = 0; i <= IPV6_EXT_WALK; i++) {
    const last = i === IPV6_EXT_WALK;
    jmp(JEQ, 6, 'ports6', 0, `walk${i}`);
    jmp(JEQ, 17, 'ports6', 0);
    jmp(JEQ, 58, 'icmp6', 0);
    if (last) {
      jmp(JEQ, 44, 'addr6', 'w0');
      break;
    }
    jmp(JEQ, 44, 'addr6', 0);
    jmp(JEQ, 0, 'ext' + i, 0);
    jmp(JEQ, 43, 'ext' + i, 0);
    jmp(JEQ, 60, 0, 'w0');
    op(LD | B | IND, 1, 'ext' + i); // Hdr Ext Len: (n + 1) * 8 bytes (RFC 8200 4.3-4.6)
    op(ALU | ADD | K, 1);
    op(ALU | MUL | K, 8);
    op(ST, 1);
    op(LD | B | IND, 0); // its Next Header, kept in M[4]
    op(ST, 4);
    op(LD | W | MEM, 1); // X += the header's length
    op(ALU | ADD | X);
    op(MISC | TAX);
    op(LD | W | MEM, 4);
  }
  op(LD | B | IND, 0, 'icmp6'); // ICMPv6 type
  jmp(JEQ, 129, 0, 'w0');
  op(LD | H | IND, 4); // an echo reply's identifier (byway's ping)
  jmp(JGE, r.low, 0, 'w0');
  jmp(JGT, r.high, 'w0', 'slice');
  op(LD | H | IND, 2, 'ports6'); // destination port
  jmp(JGE, r.low, 0, 'src6');
  jmp(JGT, r.high, 'src6', 'slice');
  op(LD | H | IND, 0, 'src6'); // the source port, XORed with the source address's four words below
  op(JMP | 0x00, 0);
  p[p.length - 1]!.jt = 'words6';
  op(LD | K, 0, 'addr6'); // a fragment: the four words alone
  op(ST, 0, 'words6');
  for (const o of [8, 12, 16, 20]) {
    op(LD | W | ABS, o);
    op(LDX | W | MEM, 0);
    op(ALU | XOR | X);
    if (o !== 20) op(ST, 0);
  }
  op(JMP | 0x00, 0);
  p[p.length - 1]!.jt = 'mix';
  op(RET | K, r.slots[0]!, 'w0'); // ARP, NDP, other ICMPv6, other EtherTypes: worker 0's slot
  op(LD | H | ABS, 6, 'ipv4'); // flags and fragment offset
  jmp(JSET, 0x3fff, 'addr', 0);
  op(LD | B | ABS, 9); // protocol
  jmp(JEQ, 6, 'ports', 0);
  jmp(JEQ, 17, 'ports', 0);
  jmp(JEQ, 1, 0, 'addr');
  // ICMP: X = IHL * 4, then the type.
  op(LDX | B | MSH, 0);
  op(LD | B | IND, 0);
  jmp(JEQ, 0, 0, 'err');
  op(LD | H | IND, 4, 'ident'); // an echo reply's identifier (byway's ping)
  jmp(JGE, r.low, 0, 'addr');
  jmp(JGT, r.high, 'addr', 'slice');
  jmp(JEQ, 3, 'quoted', 0, 'err');
  jmp(JEQ, 4, 'quoted', 0);
  jmp(JEQ, 11, 'quoted', 0);
  jmp(JEQ, 12, 'quoted', 'addr');
  op(LD | W | IND, 8 + 16, 'quoted'); // the quoted packet (at X + 8): its destination address, kept in M[2]
  op(ST, 2);
  op(LD | B | IND, 8 + 9); // its protocol, kept in M[3]
  op(ST, 3);
  op(LD | B | IND, 8); // X = X + its IHL * 4: its transport header is at X + 8
  op(ALU | AND | K, 0x0f);
  op(ALU | MUL | K, 4);
  op(ALU | ADD | X);
  op(MISC | TAX);
  op(LD | W | MEM, 3);
  jmp(JEQ, 6, 'qports', 0);
  jmp(JEQ, 17, 'qports', 0);
  jmp(JEQ, 1, 0, 'addr');
  op(LD | H | IND, 8 + 4); // a quoted echo request's identifier
  op(JMP | 0x00, 0);
  p[p.length - 1]!.jt = 'ident2';
  op(LD | H | IND, 8, 'qports'); // the quoted source port (byway's)
  jmp(JGE, r.low, 0, 'qclient');
  jmp(JGT, r.high, 'qclient', 'slice');
  op(LD | H | IND, 8 + 2, 'qclient'); // a service flow's: hash the client's (quoted destination) address and port
  op(LDX | W | MEM, 2);
  op(ALU | XOR | X);
  op(JMP | 0x00, 0);
  p[p.length - 1]!.jt = 'mix';
  jmp(JGE, r.low, 0, 'addr', 'ident2');
  jmp(JGT, r.high, 'addr', 'slice');
  op(LDX | B | MSH, 0, 'ports'); // X = IHL * 4
  op(LD | H | IND, 2); // destination port (a load past the end returns 0 from the program: worker slot 0)
  jmp(JGE, r.low, 0, 'src');
  jmp(JGT, r.high, 'src', 0);
  op(ALU | SUB | K, r.low, 'slice');
  op(ALU | DIV | K, r.slice);
  op(JMP | 0x00 /* JA */, 0);
  p[p.length - 1]!.jt = 'map'; // patched below: JA uses k, resolved like a label
  op(LD | H | IND, 0, 'src'); // source port
  op(ST, 0);
  op(LD | W | ABS, 12); // source address
  op(LDX | W | MEM, 0);
  op(ALU | XOR | X);
  op(JMP | 0x00, 0);
  p[p.length - 1]!.jt = 'mix';
  op(LD | W | ABS, 12, 'addr');
  op(ALU | MUL | K, HASH_MUL, 'mix');
  op(ALU | RSH | K, 16);
  op(ALU | MOD | K, r.workers);
  // The slot tables: worker -> member index. The identity needs no table. The hashed classes fall through into
  // `smap` (serviceSlots); an ephemeral slice jumps to `map` (slots). One table when both are the same.
  const table = (slots: readonly number[], label: string): void => {
    if (slots.every((s, i) => s === i)) return op(RET | A, 0, label);
    for (let i = 0; i < r.workers - 1; i++) {
      jmp(JEQ, i, `${label}${i}`, 0);
      if (i === 0) p[p.length - 1]!.label = label;
    }
    op(RET | K, slots[r.workers - 1]!, r.workers === 1 ? label : undefined);
    for (let i = 0; i < r.workers - 1; i++) op(RET | K, slots[i]!, `${label}${i}`);
  };
  const same = r.serviceSlots.every((s, i) => s === r.slots[i]);
  if (same) table(r.slots, 'map');
  else {
    table(r.serviceSlots, 'smap');
    table(r.slots, 'map');
  }
  return assemble(p);
}

function assemble(prog: Insn[]): Uint8Array {
  const at = new Map<string, number>();
  prog.forEach((p, i) => p.label && at.set(p.label, i));
  const out = new Uint8Array(prog.length * 8);
  const view = new DataView(out.buffer);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  prog.forEach((p, i) => {
    const rel = (t: number | string): number => {
      const d = typeof t === 'number' ? t : at.get(t)! - (i + 1);
      if (!(d >= 0)) throw new Error(`fanout program: bad jump at ${i}`);
      return d;
    };
    let k = p.k;
    let jt = 0;
    let jf = 0;
    if (p.code === (JMP | 0x00)) k = rel(p.jt); // JA: the offset is k
    else if ((p.code & 0x07) === JMP) {
      jt = rel(p.jt);
      jf = rel(p.jf);
      if (jt > 255 || jf > 255) throw new Error(`fanout program: jump out of range at ${i}`);
    }
    view.setUint16(i * 8, p.code, le);
    out[i * 8 + 2] = jt;
    out[i * 8 + 3] = jf;
    view.setUint32(i * 8 + 4, k >>> 0, le);
  });
  return out;
}

/**
 * Run a fanout program as the kernel would (`bpf_prog_run` over a packet whose data starts at its network header,
 * skb->protocol = `etherType`): the returned value, before the kernel's modulo. A load past the end returns 0, as
 * in the kernel's classic BPF. Only the instructions buildFanoutProgram emits are known.
 */
export function runFanoutProgram(prog: Uint8Array, etherType: number, ip: Uint8Array): number {
  const view = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const load = (off: number, size: number): number | undefined => {
    if (off < 0 || off + size > ip.length) return undefined;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + ip[off + i]!;
    return v >>> 0;
  };
  let a = 0;
  let x = 0;
  const mem = new Uint32Array(16);
  for (let pc = 0; pc < prog.length / 8; ) {
    const code = view.getUint16(pc * 8, le);
    const jt = prog[pc * 8 + 2]!;
    const jf = prog[pc * 8 + 3]!;
    const k = view.getUint32(pc * 8 + 4, le);
    pc++;
    const cls = code & 0x07;
    if (cls === LD || cls === LDX) {
      const mode = code & 0xe0;
      const size = (code & 0x18) === W ? 4 : (code & 0x18) === H ? 2 : 1;
      let v: number | undefined;
      if (mode === IMM) v = k;
      else if (cls === LD && mode === ABS && k === AD_PROTOCOL) v = etherType;
      else if (mode === ABS) v = load(k, size);
      else if (mode === IND) v = load(x + k, size);
      else if (mode === MEM) v = mem[k]!;
      else if (mode === MSH) v = load(k, 1) === undefined ? undefined : (load(k, 1)! & 0x0f) * 4;
      else throw new Error(`unsupported load ${code}`);
      if (v === undefined) return 0;
      if (cls === LD) a = v;
      else x = v;
    } else if (cls === ST) mem[k] = a;
    else if (cls === ALU) {
      const src = (code & 0x08) === X ? x : k;
      const o = code & 0xf0;
      if (o === ADD) a = (a + src) >>> 0;
      else if (o === SUB) a = (a - src) >>> 0;
      else if (o === MUL) a = Math.imul(a, src) >>> 0;
      else if (o === DIV) a = src === 0 ? 0 : Math.floor(a / src);
      else if (o === MOD) a = src === 0 ? 0 : a % src;
      else if (o === RSH) a = a >>> src;
      else if (o === XOR) a = (a ^ src) >>> 0;
      else if (o === AND) a = (a & src) >>> 0;
      else throw new Error(`unsupported alu ${code}`);
    } else if (cls === JMP) {
      const o = code & 0xf0;
      if (o === 0) pc += k;
      else {
        const c = o === JEQ ? a === k : o === JGT ? a > k : o === JGE ? a >= k : o === JSET ? (a & k) !== 0 : undefined;
        if (c === undefined) throw new Error(`unsupported jump ${code}`);
        pc += c ? jt : jf;
      }
    } else if (cls === RET) return (code & 0x18) === A ? a : k;
    else if (cls === MISC) {
      if ((code & 0xf8) === TAX) x = a;
      else a = x;
    } else throw new Error(`unsupported opcode ${code}`);
  }
  return 0;
}
