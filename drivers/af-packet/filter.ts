/**
 * The classic BPF filter (Linux socket filter, `struct sock_filter`) the AF_PACKET driver attaches, so the
 * kernel copies into byway's ring only what byway could want: every ARP frame, every broadcast frame, IPv6
 * multicast frames (33:33:xx, RFC 2464 section 7: NDP's solicited-node and all-nodes groups; the stack keeps the
 * groups it listens to), IPv4 multicast frames (01:00:5e:00:00:00 to 01:00:5e:7f:ff:ff with EtherType IPv4,
 * RFC 1112 6.4: the stack keeps the groups it joined; the device receives a group's MAC once the driver joined
 * it, AfPacketDriver.multicastMembership), and frames addressed to byway's MAC (and, when an IPv4 address is given, only IPv4
 * packets to that address and IPv6 packets among those). Everything else (other hosts' unicast on a shared
 * segment, other multicast) never reaches the ring.
 *
 * Built here, not in C: the addon only attaches the bytes (SO_ATTACH_FILTER). Each instruction is 8 bytes in
 * host byte order: u16 code, u8 jt, u8 jf, u32 k.
 */

// Classic BPF opcodes (linux/filter.h).
const BPF_LD = 0x00, BPF_JMP = 0x05, BPF_RET = 0x06;
const BPF_W = 0x00, BPF_H = 0x08, BPF_ABS = 0x20;
const BPF_JEQ = 0x10, BPF_JGT = 0x20, BPF_JGE = 0x30, BPF_K = 0x00;

type Insn = { code: number; jt: number | string; jf: number | string; k: number; label?: string };

export interface PacketFilterSpec {
  /** byway's MAC on the link. */
  readonly mac: Uint8Array;
  /** byway's IPv4 address (host-order number); unicast IPv4 to our MAC must also be to this address. */
  readonly ipv4?: number | undefined;
  /** Accept every ARP frame (default true; the stack needs ARP requests for its address and replies). */
  readonly arp?: boolean;
  /** Accept broadcast frames (default true). */
  readonly broadcast?: boolean;
  /** Accept IPv6 (EtherType 0x86dd) to byway's MAC and to IPv6 multicast MACs (default true). */
  readonly ipv6?: boolean;
  /** Accept IPv4 to IPv4 multicast MACs, 01:00:5e with the 24th bit clear (default true). */
  readonly ipv4Multicast?: boolean;
}

/** Bytes of a `sock_filter` program implementing `spec`, ready for SO_ATTACH_FILTER. */
export function buildPacketFilter(spec: PacketFilterSpec): Uint8Array {
  if (spec.mac.length !== 6) throw new RangeError('mac must be 6 bytes');
  const m = spec.mac;
  const macHi = ((m[0]! << 24) | (m[1]! << 16) | (m[2]! << 8) | m[3]!) >>> 0;
  const macLo = (m[4]! << 8) | m[5]!;
  const prog: Insn[] = [];
  const ld = (size: number, off: number, label?: string): void => {
    prog.push({ code: BPF_LD | size | BPF_ABS, jt: 0, jf: 0, k: off, ...(label ? { label } : {}) });
  };
  const jeq = (k: number, jt: number | string, jf: number | string): void => {
    prog.push({ code: BPF_JMP | BPF_JEQ | BPF_K, jt, jf, k: k >>> 0 });
  };
  if (spec.arp !== false) {
    ld(BPF_H, 12);
    jeq(0x0806, 'accept', 0);
  }
  const ipv6 = spec.ipv6 !== false;
  const mc4 = spec.ipv4Multicast !== false;
  const afterMulticast4 = ipv6 ? 'multicast6' : 'mine';
  const afterBroadcast = mc4 ? 'multicast4' : afterMulticast4;
  if (spec.broadcast !== false) {
    ld(BPF_W, 0);
    jeq(0xffffffff, 0, afterBroadcast);
    ld(BPF_H, 4);
    jeq(0xffff, 'accept', afterBroadcast);
  }
  if (mc4) {
    ld(BPF_W, 0, 'multicast4'); // the destination MAC's first 4 bytes: 01:00:5e:00 to 01:00:5e:7f
    prog.push({ code: BPF_JMP | BPF_JGE | BPF_K, jt: 0, jf: afterMulticast4, k: 0x01005e00 });
    prog.push({ code: BPF_JMP | BPF_JGT | BPF_K, jt: afterMulticast4, jf: 0, k: 0x01005e7f });
    ld(BPF_H, 12);
    jeq(0x0800, 'accept', 'reject');
  }
  if (ipv6) {
    ld(BPF_H, 0, 'multicast6');
    jeq(0x3333, 0, 'mine');
    ld(BPF_H, 12);
    jeq(0x86dd, 'accept', 'reject');
  }
  ld(BPF_W, 0, 'mine');
  jeq(macHi, 0, 'reject');
  ld(BPF_H, 4);
  if (spec.ipv4 === undefined) {
    jeq(macLo, 'accept', 'reject');
  } else {
    jeq(macLo, 0, 'reject');
    ld(BPF_H, 12);
    jeq(0x0800, 0, ipv6 ? 'unicast6' : 'reject');
    ld(BPF_W, 30); // IPv4 destination (no options before it)
    jeq(spec.ipv4, 'accept', 'reject');
    if (ipv6) prog.push({ code: BPF_JMP | BPF_JEQ | BPF_K, jt: 'accept', jf: 'reject', k: 0x86dd, label: 'unicast6' });
  }
  prog.push({ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0x40000, label: 'accept' });
  prog.push({ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0, label: 'reject' });

  const at = new Map<string, number>();
  prog.forEach((p, i) => p.label && at.set(p.label, i));
  const out = new Uint8Array(prog.length * 8);
  const u16 = new Uint16Array(out.buffer);
  const u32 = new Uint32Array(out.buffer);
  prog.forEach((p, i) => {
    const rel = (t: number | string): number => {
      const d = typeof t === 'number' ? t : at.get(t)! - (i + 1);
      if (d < 0 || d > 255) throw new Error(`filter jump out of range at ${i}`);
      return d;
    };
    u16[i * 4] = p.code;
    out[i * 8 + 2] = rel(p.jt);
    out[i * 8 + 3] = rel(p.jf);
    u32[i * 2 + 1] = p.k >>> 0;
  });
  return out;
}

/**
 * A small classic-BPF interpreter for the instructions above (LD W/H ABS, JEQ K, RET K), so the filter's logic
 * is unit-tested without a kernel. Returns the accept length (0 = dropped).
 */
export function runPacketFilter(prog: Uint8Array, frame: Uint8Array): number {
  const u16 = new Uint16Array(prog.buffer, prog.byteOffset, prog.length / 2);
  const u32 = new Uint32Array(prog.buffer, prog.byteOffset, prog.length / 4);
  let a = 0;
  for (let pc = 0; pc < prog.length / 8; ) {
    const code = u16[pc * 4]!;
    const jt = prog[pc * 8 + 2]!;
    const jf = prog[pc * 8 + 3]!;
    const k = u32[pc * 2 + 1]!;
    if (code === (BPF_LD | BPF_W | BPF_ABS)) {
      if (k + 4 > frame.length) return 0;
      a = ((frame[k]! << 24) | (frame[k + 1]! << 16) | (frame[k + 2]! << 8) | frame[k + 3]!) >>> 0;
      pc++;
    } else if (code === (BPF_LD | BPF_H | BPF_ABS)) {
      if (k + 2 > frame.length) return 0;
      a = (frame[k]! << 8) | frame[k + 1]!;
      pc++;
    } else if (code === (BPF_JMP | BPF_JEQ | BPF_K)) {
      pc += 1 + (a === k ? jt : jf);
    } else if (code === (BPF_JMP | BPF_JGT | BPF_K)) {
      pc += 1 + (a > k ? jt : jf);
    } else if (code === (BPF_JMP | BPF_JGE | BPF_K)) {
      pc += 1 + (a >= k ? jt : jf);
    } else if (code === (BPF_RET | BPF_K)) {
      return k;
    } else {
      throw new Error(`unsupported opcode ${code}`);
    }
  }
  return 0;
}
