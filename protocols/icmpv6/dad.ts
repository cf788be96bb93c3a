/**
 * Duplicate address detection (RFC 4862 section 5.4), sans-IO: time is the `now` argument (ms), the random start
 * delay is injected, probes and results go to an injected sink.
 *
 * An address starts TENTATIVE. After a random delay in [0, maxStartDelayMs) (5.4.2: the first probe after an
 * interface comes up waits up to MAX_RTR_SOLICITATION_DELAY, 1 s), `dupAddrDetectTransmits` neighbor
 * solicitations go out RetransTimer apart (from ::, to the solicited-node group: the sink builds them); if none
 * draws an answer within RetransTimer after the last, the address is unique and becomes PREFERRED. While
 * tentative, it is DUPLICATE if (5.4.3, 5.4.4):
 * - a neighbor advertisement for it arrives (someone uses it), or
 * - a solicitation for it arrives from :: (someone else is probing it at the same time).
 * A solicitation for it from a unicast source is someone resolving it: ignored while tentative. With
 * `dupAddrDetectTransmits` 0 an address is unique at once (5.4). Enhanced DAD (RFC 7527): each address gets a
 * random 6-byte nonce that the sink puts in its probes (a Nonce option, as Linux does); a probe that comes back
 * with our nonce is our own, looped back by the link, and is ignored instead of making the address duplicate.
 */
import { ipv6Key } from '../ipv6/address.js';

export interface DadOptions {
  /** DupAddrDetectTransmits (RFC 4862 section 5.1): 1. */
  dupAddrDetectTransmits: number;
  /** RetransTimer (RFC 4861 section 10): 1 s. */
  retransMs: number;
  /** MAX_RTR_SOLICITATION_DELAY: 1 s (0 to probe at once). */
  maxStartDelayMs: number;
}

export const DEFAULT_DAD_OPTIONS: DadOptions = { dupAddrDetectTransmits: 1, retransMs: 1_000, maxStartDelayMs: 1_000 };

export interface DadSink {
  /**
   * Send a neighbor solicitation from :: to the solicited-node group of `target`, no source link-layer option, with
   * a Nonce option carrying `nonce` (RFC 7527).
   */
  probe(target: Uint8Array, nonce: Uint8Array): void;
  /** Detection ended for `address`. */
  result(address: Uint8Array, state: 'PREFERRED' | 'DUPLICATE'): void;
}

interface Tentative {
  address: Uint8Array;
  nonce: Uint8Array;
  sent: number;
  /** When the next probe goes out, or (after the last) when the address becomes preferred. */
  deadline: number;
}

export class DuplicateAddressDetection {
  readonly options: DadOptions;
  readonly stats = { started: 0, unique: 0, duplicates: 0, probesSent: 0, loopedBack: 0 };
  private readonly tentative = new Map<string, Tentative>();

  /** `random` returns a number in [0, 1): the start delay and the nonce bytes are drawn from it. */
  constructor(
    private readonly sink: DadSink,
    private readonly random: () => number,
    options: Partial<DadOptions> = {},
  ) {
    this.options = { ...DEFAULT_DAD_OPTIONS, ...options };
  }

  /** Begin detection for `address` (copied). Starting an address already tentative does nothing. */
  start(now: number, address: Uint8Array): void {
    const key = ipv6Key(address);
    if (this.tentative.has(key)) return;
    this.stats.started++;
    if (this.options.dupAddrDetectTransmits <= 0) {
      this.stats.unique++;
      this.sink.result(address.slice(0, 16), 'PREFERRED');
      return;
    }
    const delay = Math.floor(this.draw() * this.options.maxStartDelayMs);
    const nonce = new Uint8Array(6);
    for (let i = 0; i < nonce.length; i++) nonce[i] = Math.floor(this.draw() * 256);
    this.tentative.set(key, { address: address.slice(0, 16), nonce, sent: 0, deadline: now + delay });
  }

  isTentative(address: Uint8Array): boolean {
    return this.tentative.has(ipv6Key(address));
  }

  /**
   * A valid neighbor solicitation for `target` arrived; `fromUnspecified`: its source was ::; `nonce`: its Nonce
   * option, if any. Our own probe looped back (same nonce) is ignored (RFC 7527 section 4.2).
   */
  solicitation(target: Uint8Array, fromUnspecified: boolean, nonce?: Uint8Array): void {
    if (!fromUnspecified) return;
    const t = this.tentative.get(ipv6Key(target));
    if (t !== undefined && nonce !== undefined && sameBytes(t.nonce, nonce)) {
      this.stats.loopedBack++;
      return;
    }
    this.duplicate(target);
  }

  /** A valid neighbor advertisement for `target` arrived. */
  advertisement(target: Uint8Array): void {
    this.duplicate(target);
  }

  poll(now: number): void {
    for (const [key, t] of this.tentative) {
      if (now < t.deadline) continue;
      if (t.sent < this.options.dupAddrDetectTransmits) {
        t.sent++;
        t.deadline = now + this.options.retransMs;
        this.stats.probesSent++;
        this.sink.probe(t.address, t.nonce);
      } else {
        this.tentative.delete(key);
        this.stats.unique++;
        this.sink.result(t.address, 'PREFERRED');
      }
    }
  }

  pollAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.tentative.values()) if (at === undefined || t.deadline < at) at = t.deadline;
    return at;
  }

  private draw(): number {
    return Math.min(Math.max(this.random(), 0), 0.999999);
  }

  private duplicate(target: Uint8Array): void {
    const key = ipv6Key(target);
    const t = this.tentative.get(key);
    if (t === undefined) return;
    this.tentative.delete(key);
    this.stats.duplicates++;
    this.sink.result(t.address, 'DUPLICATE');
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
