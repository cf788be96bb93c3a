/**
 * The seam between the IP layer and the protocols above it. A transport (UDP, TCP, ICMP, later ICMPv6) registers
 * with the stack under its IP protocol number (`StackCore.register`) and implements one interface: input, the ICMP
 * errors that quote its packets, polling, and (optionally) news that a path works again. The stack gives each
 * transport the same `TransportHost`: the transmit token, routes and addresses, the ICMP error sender, negative
 * advice, and port claims when the driver shares its address with the kernel. The stack core knows no transport
 * above UDP by name: NetStack (stack.ts) plugs TCP in through this seam.
 */
import type { FlowSteering } from '../../drivers/types.js';
import type { Ipv4Output } from './ipv4-output.js';
import type { StackStats } from './stats.js';

/** What an ICMP error says about a packet a transport sent (RFC 1122 3.2.2, RFC 5927). */
export type IcmpErrorKind = 'unreachable' | 'frag-needed' | 'ttl-exceeded';

export interface Transport {
  /** The IP protocol number (RFC 790 / IANA) this transport takes. */
  readonly protocol: number;
  /**
   * One packet for this transport: its L4 bytes are `buf[start, end)` inside the IPv4 packet that starts at
   * `buf[ipOff]` (a view valid only during the call). `broadcast`: sent to a broadcast address of ours; `trusted`:
   * the device vouched for the L4 checksum (or the packet is our own, looped back).
   */
  input(now: number, buf: Uint8Array, ipOff: number, start: number, end: number, src: number, dst: number, broadcast: boolean, trusted: boolean): void;
  /**
   * Optional: the end of a receive batch: hand on anything held to batch it (GRO). A transport that holds nothing
   * leaves it out, and the stack calls none for it (it runs after every receive batch, at least once per poll).
   */
  flush?(): void;
  /**
   * An ICMP error quoting a packet of ours from `src` to `dst` whose L4 bytes (at least 8) are `quoted`. Returns
   * whether it matched something of the transport's (RFC 5927 validation: only then is a path MTU learned).
   */
  icmpError(now: number, src: number, dst: number, quoted: Uint8Array, kind: IcmpErrorKind, code: number, mtu: number): boolean;
  /** Optional: run due timers. A transport without timers leaves it out (the stack polls the rest every turn). */
  poll?(now: number): void;
  /** The earliest time `poll` must run, or undefined. */
  pollAt(now: number): number | undefined;
  /**
   * Optional, with `poll`: the earliest time `poll` may do anything (Infinity: not until woken; -Infinity or `now`:
   * at the next poll). A transport that has it calls `TransportHost.wakeTimers()` whenever something it does may
   * move that earlier (a timer armed, output queued for its poll), and the stack then skips its `poll` until that
   * time (src/stack/timer-phase.ts). One without it is polled on every poll.
   */
  dueAt?(now: number): number;
  /**
   * Optional: a next hop answered the probe that negative advice started (RFC 1122 2.3.2.1); `via(dst)` says
   * whether the path to `dst` goes through it.
   */
  pathConfirmed?(now: number, via: (dst: number) => boolean): void;
}

/** What the stack offers every transport. */
export interface TransportHost {
  readonly output: Ipv4Output;
  readonly stats: StackStats;
  /** Default TTL of packets sent. */
  readonly ttl: number;
  /** The driver's flow steering when it shares its address with the kernel (ports are claimed there). */
  readonly flows: FlowSteering | undefined;
  isLocalAddress(ip: number): boolean;
  isBroadcastFor(ip: number): boolean;
  sourceFor(dst: number): number | undefined;
  mtuFor(dst: number): number;
  /** The route's or interface's MTU towards dst, without what ICMP taught (RFC 1191 3.1: for the MSS option). */
  linkMtuFor(dst: number): number;
  /** Answer the IPv4 packet at `buf[ipOff, end)` with an ICMP error (rate-limited; RFC 1122 3.2.2's exceptions). */
  sendIcmpError(buf: Uint8Array, ipOff: number, end: number, type: number, code: number, mtu: number): void;
  /** Send what is queued now (the driver's flush). */
  flush(now: number): void;
  /** A transport with `dueAt` armed something: the next poll runs the timer phase (Transport.dueAt). */
  wakeTimers(): void;
  /**
   * RFC 1122 4.2.3.5 negative advice: the peer `dst` stopped answering; the stack checks the next hop's link-layer
   * address (a transport with `pathConfirmed` hears when it answers).
   */
  negativeAdvice(now: number, dst: number): void;
  /** Optional: whether the interface joined IPv4 group `group` (a multicast send is then looped back, if asked). */
  multicastMember?(group: number): boolean;
}

/** Claim/release hooks for a transport's ports when the driver steers flows (shared address), else nothing. */
export function portClaims(
  flows: FlowSteering | undefined,
  protocol: 'tcp' | 'udp',
): { claimPort?: (port: number) => boolean; releasePort?: (port: number) => void } {
  if (flows === undefined) return {};
  return {
    claimPort: (port) => flows.claim({ protocol, port }),
    releasePort: (port) => flows.release({ protocol, port }),
  };
}
