/**
 * ICMP for IPv4 (RFC 792, RFC 1122 3.2.2) as a transport of the stack: echo replies, ping, the errors byway sends
 * (rate-limited by a token bucket), and the errors it receives, handed to the transport whose packet they quote
 * (RFC 5927: the transport vouches for them before a path MTU is learned, RFC 1191).
 */
import { PingTable } from './ping-table.js';
import { BywayError } from '../../protocols/util/errors.js';
import { read16, read32, write16 } from '../../protocols/util/bytes.js';
import { checksum, updateChecksum16 } from '../../protocols/util/checksum.js';
import { IPV4_HEADER_LEN, IpProtocol, Ipv4Packet } from '../../protocols/ipv4/wire.js';
import { isMulticast, IPV4_BROADCAST } from '../../protocols/ipv4/address.js';
import { ICMP_HEADER_LEN, IcmpPacket, IcmpType, UnreachableCode, emitIcmp, parseIcmp } from '../../protocols/icmp/wire.js';
import { TxKind } from './ipv4-output.js';
import type { IcmpErrorKind, Transport, TransportHost } from './transport.js';

export interface IcmpOptions {
  /** ICMP errors (port/protocol unreachable) per second, token bucket (Linux's icmp_msgs_per_sec is 1000). */
  errorRatePerSec: number;
  errorBurst: number;
  /** Answer echo requests. Default true. */
  echoReplies: boolean;
  /** Lowest path MTU a fragmentation-needed message may set (RFC 1191 safeguard; Linux's min_pmtu is 552). */
  minPmtu: number;
  /** How long a learned path MTU holds before it is forgotten (RFC 1191 section 6.3: 10 minutes). */
  pmtuExpiryMs: number;
  /**
   * The identifier of this stack's echo requests, IPv4 and IPv6 (default: drawn from the stack's rng). A cluster
   * gives each worker one inside its ephemeral slice, so the steering sends its echo replies back to it (src/cluster).
   */
  echoIdent?: number;
}

export const DEFAULT_ICMP_OPTIONS: IcmpOptions = {
  errorRatePerSec: 1000,
  errorBurst: 50,
  echoReplies: true,
  minPmtu: 552,
  pmtuExpiryMs: 600_000,
};

export type PingResult =
  | { readonly ok: true; readonly rttMs: number; readonly ttl: number; readonly bytes: number; readonly from: number; readonly seq: number }
  | { readonly ok: false; readonly error: BywayError; readonly seq: number };

export interface PingOptions {
  /** Echo data length (default 56, like ping(8)). */
  readonly size?: number;
  readonly timeoutMs?: number;
  readonly ttl?: number;
  /** Fill byte pattern (default 0x00, 0x01, ...). */
  readonly data?: Uint8Array;
}

interface PendingPing {
  readonly dst: number;
  readonly sentAt: number;
  readonly deadline: number;
  readonly seq: number;
  readonly cb: (r: PingResult) => void;
}

export class Icmp4 implements Transport {
  readonly protocol = IpProtocol.ICMP;
  readonly options: IcmpOptions;
  private readonly pings = new PingTable<PendingPing>();
  private readonly pingIdent: number;
  private pingClaimed = false;
  private errorTokens: number;
  private errorTokensAt = 0;

  constructor(
    private readonly host: TransportHost,
    /** The transport registered for an IP protocol (errors go to the one whose packet they quote). */
    private readonly transportFor: (protocol: number) => Transport | undefined,
    private readonly csum: { tx: boolean; rx: boolean },
    ident: number,
    options: Partial<IcmpOptions> | undefined,
  ) {
    this.options = { ...DEFAULT_ICMP_OPTIONS, ...options };
    this.errorTokens = this.options.errorBurst;
    this.pingIdent = (this.options.echoIdent ?? ident) & 0xffff;
  }

  input(now: number, buf: Uint8Array, ipOff: number, start: number, end: number, src: number, _dst: number, broadcast: boolean): void {
    const st = this.host.stats.icmp;
    st.rx++;
    const icmp = IcmpPacket.checked(buf.subarray(start, end));
    if (icmp === undefined) {
      st.truncated++;
      return;
    }
    if (this.csum.rx && !icmp.verifyChecksum()) {
      st.badChecksum++;
      return;
    }
    const repr = parseIcmp(icmp);
    switch (repr.kind) {
      case 'echo-request':
        st.echoRequests++;
        if (broadcast) {
          st.broadcastEchoIgnored++; // RFC 1122 3.2.2.6 allows silence; it keeps us out of smurf attacks
          return;
        }
        if (this.options.echoReplies) this.sendEchoReply(now, buf, ipOff, icmp);
        return;
      case 'echo-reply':
        this.echoReplyInput(now, src, buf[ipOff + 8]!, repr.ident, repr.seq, repr.data.length);
        return;
      case 'dest-unreachable':
      case 'time-exceeded':
        st.errorsReceived++;
        this.errorInput(now, repr.kind, repr.code, repr.kind === 'dest-unreachable' ? repr.nextHopMtu : 0, repr.quoted);
        return;
      default:
        st.otherTypes++;
    }
  }

  /** An error quoting one of our echo requests: the ping it belongs to fails. */
  icmpError(_now: number, _src: number, dst: number, quoted: Uint8Array, kind: IcmpErrorKind, code: number): boolean {
    if (quoted[0] !== IcmpType.EchoRequest || read16(quoted, 4) !== this.pingIdent) return false;
    const seq = read16(quoted, 6);
    const ping = this.pings.get(seq);
    if (ping === undefined || ping.dst !== dst) return false;
    this.pings.delete(seq);
    ping.cb({ ok: false, error: icmpToError(kind, code), seq: ping.seq });
    return true;
  }

  poll(now: number): void {
    if (this.pings.size > 0) this.pings.expire(now);
  }

  pollAt(): number | undefined {
    return this.pings.pollAt();
  }

  /** Transport.dueAt: the earliest ping deadline (`ping` wakes the stack's timers). */
  dueAt(): number {
    return this.pings.size === 0 ? Infinity : (this.pings.pollAt() ?? Infinity);
  }

  /**
   * Hand an ICMP error to whoever sent the datagram it quotes (RFC 1122 3.2.2, RFC 5927: only when the quote names
   * one of our sockets; transports validate further, e.g. TCP checks the sequence number).
   */
  private errorInput(now: number, kind: 'dest-unreachable' | 'time-exceeded', code: number, nextHopMtu: number, quoted: Uint8Array): void {
    const st = this.host.stats.icmp;
    if (quoted.length < IPV4_HEADER_LEN + 8 || quoted[0]! >>> 4 !== 4) {
      st.errorsUnmatched++;
      return;
    }
    const ihl = (quoted[0]! & 0x0f) * 4;
    if (ihl < IPV4_HEADER_LEN || quoted.length < ihl + 8) {
      st.errorsUnmatched++;
      return;
    }
    const src = read32(quoted, 12);
    const dst = read32(quoted, 16);
    const t = this.transportFor(quoted[9]!);
    if (!this.host.isLocalAddress(src) || t === undefined) {
      st.errorsUnmatched++;
      return;
    }
    const fragNeeded = kind === 'dest-unreachable' && code === UnreachableCode.FragNeeded;
    // RFC 5927 section 7.2: a path MTU is learned only from an error that a socket vouches for (TCP: a connection
    // with the quoted sequence number in flight), so a forged frag-needed cannot shrink every flow to a peer.
    const pmtu = fragNeeded ? this.pmtuCandidate(dst, nextHopMtu, read16(quoted, 2)) : undefined;
    const tkind: IcmpErrorKind = kind === 'time-exceeded' ? 'ttl-exceeded' : fragNeeded ? 'frag-needed' : 'unreachable';
    if (!t.icmpError(now, src, dst, quoted.subarray(ihl), tkind, code, pmtu ?? this.host.mtuFor(dst))) st.errorsUnmatched++;
    else if (pmtu !== undefined) {
      this.host.output.learnPmtu(dst, pmtu, now + this.options.pmtuExpiryMs);
      st.pmtuUpdates++;
    }
  }

  /**
   * The path MTU a frag-needed message asks for, after RFC 1191 section 6.1's safeguards (never below minPmtu,
   * never a raise, the plateau estimate for routers that send no MTU), or undefined when it is to be ignored.
   */
  private pmtuCandidate(dst: number, nextHopMtu: number, quotedTotalLen: number): number | undefined {
    const st = this.host.stats.icmp;
    let mtu = nextHopMtu;
    if (mtu === 0) mtu = plateauBelow(quotedTotalLen); // RFC 1191 section 5
    if (mtu < 68) {
      st.pmtuIgnored++;
      return undefined;
    }
    mtu = Math.max(mtu, this.options.minPmtu);
    if (mtu >= this.host.mtuFor(dst)) {
      st.pmtuIgnored++;
      return undefined;
    }
    return mtu;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Ping

  /**
   * Send an echo request; `cb` gets the reply's round trip or an error (ETIMEDOUT after `timeoutMs`, EHOSTUNREACH
   * when ARP gives up or ICMP says so). Returns the sequence number used.
   */
  ping(now: number, dst: number, options: PingOptions, cb: (r: PingResult) => void): number {
    const size = options.data?.length ?? options.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > 65507) throw new BywayError('ERR_INVALID_ARG_VALUE', `ping size ${size} is out of range`);
    const host = this.host;
    const src = host.sourceFor(dst);
    if (src === undefined) throw new BywayError('ENETUNREACH', 'no route to the destination');
    const seq = this.pings.allocate();
    if (host.flows !== undefined && !this.pingClaimed) {
      // Shared address: echo replies carrying our identifier come to us from now on (the kernel keeps the rest).
      // IPv6's pings may have claimed the same identifier first (a cluster worker's, limits.icmp.echoIdent): a claim
      // steers both families.
      try {
        host.flows.claim({ protocol: 'icmp', port: this.pingIdent });
      } catch (e) {
        if ((e as BywayError).code !== 'ERR_INVALID_STATE') throw e;
      }
      this.pingClaimed = true;
    }
    this.pings.add({ dst, sentAt: now, deadline: now + (options.timeoutMs ?? 1000), seq, cb });
    host.wakeTimers();
    const unreachable = (): void => this.pings.fail(seq, new BywayError('EHOSTUNREACH', 'the destination did not answer ARP'));
    const slot = host.output.begin(now, src, dst, IpProtocol.ICMP, ICMP_HEADER_LEN + size, options.ttl ?? host.ttl, 0, 0, unreachable);
    if (slot === null) {
      this.pings.delete(seq);
      throw new BywayError(host.output.error, 'cannot send the echo request');
    }
    const b = slot.buf;
    const o = slot.offset;
    b[o] = IcmpType.EchoRequest;
    b[o + 1] = 0;
    write16(b, o + 2, 0);
    write16(b, o + 4, this.pingIdent);
    write16(b, o + 6, seq);
    if (options.data !== undefined) b.set(options.data, o + ICMP_HEADER_LEN);
    else for (let i = 0; i < size; i++) b[o + ICMP_HEADER_LEN + i] = i & 0xff;
    if (this.csum.tx || slot.kind === TxKind.Fragment) write16(b, o + 2, checksum(b, o, o + ICMP_HEADER_LEN + size));
    slot.commit(now);
    host.flush(now);
    return seq;
  }

  private echoReplyInput(now: number, from: number, ttl: number, ident: number, seq: number, bytes: number): void {
    const st = this.host.stats.icmp;
    const ping = ident === this.pingIdent ? this.pings.get(seq) : undefined;
    if (ping === undefined || ping.dst !== from) {
      st.unmatchedReplies++;
      return;
    }
    st.echoReplies++;
    this.pings.delete(seq);
    ping.cb({ ok: true, rttMs: now - ping.sentAt, ttl, bytes, from, seq });
  }

  /** Answer the echo request `icmp` in the IPv4 packet at `buf[ipOff]`. */
  private sendEchoReply(now: number, buf: Uint8Array, ipOff: number, icmp: IcmpPacket): void {
    const len = icmp.buffer.length;
    const req = Ipv4Packet.uncheckedAt(buf, ipOff);
    const slot = this.host.output.begin(now, req.dst, req.src, IpProtocol.ICMP, len, this.host.ttl, 0, 0, undefined);
    if (slot === null) return;
    const b = slot.buf;
    const o = slot.offset;
    b.set(icmp.buffer, o);
    b[o] = IcmpType.EchoReply;
    // RFC 1624: only the type byte changed (8 -> 0), so the checksum is updated, not recomputed.
    write16(b, o + 2, updateChecksum16(read16(b, o + 2), IcmpType.EchoRequest << 8, IcmpType.EchoReply << 8));
    if (this.csum.tx || slot.kind === TxKind.Fragment) {
      write16(b, o + 2, 0);
      write16(b, o + 2, checksum(b, o, o + len));
    }
    slot.commit(now);
    this.host.stats.icmp.echoRepliesSent++;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Errors sent

  /**
   * An ICMP error about the IPv4 packet at `buf[ipOff, end)` (RFC 792; RFC 1122 3.2.2 on when not to send one:
   * never about an ICMP error, a broadcast or multicast, a non-initial fragment, or a martian source).
   * Rate-limited by a token bucket.
   */
  sendError(now: number, buf: Uint8Array, ipOff: number, end: number, type: number, code: number, mtu: number): void {
    const st = this.host.stats.icmp;
    const about = Ipv4Packet.uncheckedAt(buf, ipOff);
    if (about.fragmentOffset !== 0) return;
    if (about.protocol === IpProtocol.ICMP) {
      const t = about.payload[0];
      if (t !== IcmpType.EchoRequest && t !== IcmpType.EchoReply) return;
    }
    const src = about.src;
    if (src === 0 || src === IPV4_BROADCAST || isMulticast(src) || this.host.isBroadcastFor(src)) return;
    if (!this.takeErrorToken(now)) {
      st.rateLimited++;
      return;
    }
    // Quote as much of the datagram as fits in a 576-byte reply (RFC 1812 4.3.2.3).
    const quoteLen = Math.min(end - ipOff, 576 - IPV4_HEADER_LEN - ICMP_HEADER_LEN);
    const quoted = buf.subarray(ipOff, ipOff + quoteLen);
    const repr =
      type === IcmpType.DestUnreachable
        ? ({ kind: 'dest-unreachable', code, nextHopMtu: mtu, quoted } as const)
        : ({ kind: 'time-exceeded', code, quoted } as const);
    const slot = this.host.output.begin(now, about.dst, src, IpProtocol.ICMP, ICMP_HEADER_LEN + quoteLen, this.host.ttl, 0, 0, undefined);
    if (slot === null) return;
    emitIcmp(repr, slot.buf, slot.offset, true);
    slot.commit(now);
    st.errorsSent++;
  }

  private takeErrorToken(now: number): boolean {
    const { errorRatePerSec, errorBurst } = this.options;
    const elapsed = Math.max(0, now - this.errorTokensAt);
    this.errorTokensAt = now;
    this.errorTokens = Math.min(errorBurst, this.errorTokens + (elapsed * errorRatePerSec) / 1000);
    if (this.errorTokens < 1) return false;
    this.errorTokens -= 1;
    return true;
  }
}

/** The Node error an ICMP error about a socket's packet becomes. */
export function icmpToError(kind: IcmpErrorKind, code: number): BywayError {
  if (kind === 'ttl-exceeded') return new BywayError('EHOSTUNREACH', 'time to live exceeded in transit (ICMP time exceeded)');
  if (kind === 'frag-needed') return new BywayError('EMSGSIZE', 'fragmentation needed (ICMP)');
  switch (code) {
    case UnreachableCode.Port:
      return new BywayError('ECONNREFUSED', 'port unreachable (ICMP)');
    case UnreachableCode.Net:
      return new BywayError('ENETUNREACH', 'network unreachable (ICMP)');
    case UnreachableCode.Protocol:
      return new BywayError('ENOPROTOOPT', 'protocol unreachable (ICMP)');
    default:
      return new BywayError('EHOSTUNREACH', `destination unreachable, code ${code} (ICMP)`);
  }
}

/** RFC 1191 section 7's plateau table: the largest plateau below a datagram's length. */
const PLATEAUS = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];
function plateauBelow(len: number): number {
  for (const p of PLATEAUS) if (p < len) return p;
  return 68;
}
