/**
 * smoltcp-style fixtures: one TcpLayer driven by hand with segment templates, a virtual clock, and connections
 * put in a given RFC 9293 state (`established()`, `finWait1()`, ...). The local end is 10.0.0.1:LOCAL_PORT with
 * ISS = LOCAL_ISS (injected); the remote end is 10.0.0.2:REMOTE_PORT and starts at REMOTE_SEQ.
 */
import { expect } from 'vitest';
import { TcpLayer } from '../../protocols/tcp/layer.js';
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import type { TcpOptions } from '../../protocols/tcp/options.js';
import { seqAdd } from '../../protocols/tcp/seq.js';
import type { TcpFields, TcpRepr } from '../../protocols/tcp/wire.js';
import { ACK, FIN, FakeHost, IP_A, IP_B, SYN, build, decode, fmt, layerOptions } from './harness.js';

export const LOCAL_PORT = 49500;
export const REMOTE_PORT = 80;
export const LOCAL_ISS = 10_000;
export const REMOTE_SEQ = 20_000;

export type Seg = TcpRepr & { payload: Uint8Array; tos: number };

export class Tester {
  readonly host = new FakeHost(IP_A);
  readonly layer: TcpLayer;
  now = 0;
  conn!: TcpConnection;
  closedWith: Array<string | undefined> = [];
  /** Remote sequence state for templates. */
  rseq = REMOTE_SEQ;
  liss: number;

  constructor(opts: Partial<TcpOptions> = {}, iss = LOCAL_ISS) {
    this.liss = iss;
    this.layer = new TcpLayer(
      this.host,
      layerOptions(11, {
        isn: () => iss,
        timestamps: false,
        sack: false,
        windowScaling: false,
        receiveBuffer: 8192,
        maxReceiveBuffer: 8192,
        minRto: 1000, // the handshake's RTT is 0 in virtual time: keep RTO at 1 s so timer tests read simply
        ...opts,
      }),
    );
  }

  /**
   * Deliver a segment from the remote end (ports filled in) as a receive batch of one: the stack polls the layer
   * after every batch, which sends what the batch left owed (ACKs coalesced per batch, coalesceAcks).
   */
  send(fields: Partial<TcpFields>, payload?: Uint8Array): void {
    const b = build({ srcPort: REMOTE_PORT, dstPort: LOCAL_PORT, ...fields }, payload, IP_B, IP_A);
    this.layer.input(this.now, IP_B, IP_A, b);
    this.layer.poll(this.now);
  }

  /** Every segment the layer sent since the last call. */
  recvAll(): Seg[] {
    const out = this.host.sent.map(decode);
    this.host.sent.length = 0;
    return out;
  }

  /** Exactly one segment, matching `expected`. */
  recv(expected: Partial<Seg>): Seg {
    const all = this.recvAll();
    expect(all.map(fmt), 'one segment expected').toHaveLength(1);
    expect(all[0]).toMatchObject(expected);
    return all[0]!;
  }

  recvNothing(): void {
    expect(this.recvAll().map(fmt)).toEqual([]);
  }

  /** Advance virtual time by ms, running timers as they fall due. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const t = this.layer.pollAt(this.now);
      if (t === undefined || t > end) break;
      this.now = Math.max(this.now, t);
      this.layer.poll(this.now);
    }
    this.now = end;
  }

  /** Local ISS + n. */
  l(n: number): number {
    return seqAdd(this.liss, n) >>> 0; // as on the wire (parseTcp's unsigned values)
  }
  /** Remote ISN + n. */
  r(n: number): number {
    return seqAdd(REMOTE_SEQ, n) >>> 0;
  }

  track(c: TcpConnection): TcpConnection {
    this.conn = c;
    c.onClose = (e) => this.closedWith.push(e);
    return c;
  }

  // ---------------------------------------------------------------------------- fixtures by state

  /** Our SYN (options included). */
  syn: Seg | undefined;

  synSent(): TcpConnection {
    const c = this.track(this.layer.connect(this.now, IP_B, REMOTE_PORT, { localPort: LOCAL_PORT }));
    this.syn = this.recv({ flags: SYN, seq: this.liss, ack: 0 });
    return c;
  }

  /**
   * ESTABLISHED with the options the remote answers with (echoing our SYN's TSval when it sends timestamps),
   * after `rtt` ms of virtual time between SYN and SYN-ACK.
   */
  establishedWith(extra: Partial<TcpFields>, rtt = 0): TcpConnection {
    const c = this.synSent();
    this.advance(rtt);
    const ts = extra.tsVal !== undefined ? { tsEcr: this.syn!.tsVal } : {};
    this.send({ flags: SYN | ACK, seq: REMOTE_SEQ, ack: this.l(1), window: 65535, mss: 1000, ...ts, ...extra });
    this.recv({ flags: ACK, seq: this.l(1), ack: this.r(1) });
    expect(c.state).toBe('ESTABLISHED');
    return c;
  }

  /** Active open completed: local SND.NXT = ISS+1, remote next seq = REMOTE_SEQ+1. */
  established(extra: Partial<TcpFields> = {}): TcpConnection {
    const c = this.synSent();
    this.send({ flags: SYN | ACK, seq: REMOTE_SEQ, ack: this.l(1), window: 8192, mss: 1460, ...extra });
    this.recv({ flags: ACK, seq: this.l(1), ack: this.r(1) });
    expect(c.state).toBe('ESTABLISHED');
    return c;
  }

  finWait1(): TcpConnection {
    const c = this.established();
    c.close(this.now);
    this.recv({ flags: FIN | ACK, seq: this.l(1), ack: this.r(1) });
    expect(c.state).toBe('FIN-WAIT-1');
    return c;
  }

  finWait2(): TcpConnection {
    const c = this.finWait1();
    this.send({ flags: ACK, seq: this.r(1), ack: this.l(2) });
    this.recvNothing();
    expect(c.state).toBe('FIN-WAIT-2');
    return c;
  }

  closing(): TcpConnection {
    const c = this.finWait1();
    this.send({ flags: FIN | ACK, seq: this.r(1), ack: this.l(1) });
    this.recv({ flags: ACK, seq: this.l(2), ack: this.r(2) });
    expect(c.state).toBe('CLOSING');
    return c;
  }

  timeWait(): TcpConnection {
    const c = this.finWait2();
    this.send({ flags: FIN | ACK, seq: this.r(1), ack: this.l(2) });
    this.recv({ flags: ACK, seq: this.l(2), ack: this.r(2) });
    expect(c.state).toBe('TIME-WAIT');
    return c;
  }

  closeWait(): TcpConnection {
    const c = this.established();
    this.send({ flags: FIN | ACK, seq: this.r(1), ack: this.l(1) });
    this.recv({ flags: ACK, seq: this.l(1), ack: this.r(2) });
    expect(c.state).toBe('CLOSE-WAIT');
    return c;
  }

  lastAck(): TcpConnection {
    const c = this.closeWait();
    c.close(this.now);
    this.recv({ flags: FIN | ACK, seq: this.l(1), ack: this.r(2) });
    expect(c.state).toBe('LAST-ACK');
    return c;
  }
}
