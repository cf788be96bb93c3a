/**
 * Echo requests in flight, by sequence number: the bookkeeping IPv4's ping (stack.ts) and IPv6's (ipv6.ts)
 * share. Sans-IO: `expire(now)` fails the ones past their deadline with ETIMEDOUT; `pollAt` is the earliest
 * deadline. Throws EAGAIN (BywayError) only when all 65536 sequence numbers are in flight.
 */
import { BywayError } from '../../protocols/util/errors.js';

export interface PingEntry {
  readonly seq: number;
  readonly sentAt: number;
  readonly deadline: number;
  cb(r: { readonly ok: false; readonly error: BywayError; readonly seq: number }): void;
}

export class PingTable<E extends PingEntry> {
  private readonly pings = new Map<number, E>();
  private nextSeq = 0;

  get size(): number {
    return this.pings.size;
  }

  /** A sequence number not in flight (the next one up, as ping(8) counts). */
  allocate(): number {
    let seq = this.nextSeq;
    for (let tries = 0; this.pings.has(seq); tries++) {
      if (tries > 0xffff) throw new BywayError('EAGAIN', 'too many pings in flight');
      seq = (seq + 1) & 0xffff;
    }
    this.nextSeq = (seq + 1) & 0xffff;
    return seq;
  }

  add(e: E): void {
    this.pings.set(e.seq, e);
  }

  get(seq: number): E | undefined {
    return this.pings.get(seq);
  }

  delete(seq: number): void {
    this.pings.delete(seq);
  }

  /** End the ping `seq` with `error`, if it is still in flight. */
  fail(seq: number, error: BywayError): void {
    const p = this.pings.get(seq);
    if (p === undefined) return;
    this.pings.delete(seq);
    p.cb({ ok: false, error, seq });
  }

  expire(now: number): void {
    for (const p of this.pings.values()) {
      if (now >= p.deadline) this.fail(p.seq, new BywayError('ETIMEDOUT', `no echo reply within ${p.deadline - p.sentAt} ms`));
    }
  }

  pollAt(): number | undefined {
    let at: number | undefined;
    for (const p of this.pings.values()) if (at === undefined || p.deadline < at) at = p.deadline;
    return at;
  }
}
