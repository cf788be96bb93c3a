/**
 * The sent-segment scoreboard of one connection: a record per segment on the wire (sequence range, FIN, the time
 * and order of its last transmission, how often it went out, whether the peer SACKed it and whether it is deemed
 * lost), with the byte totals RFC 6675's pipe is computed from (SACKed, lost, retransmitted and outstanding).
 *
 * It only keeps the books: the connection's sender adds records as it transmits and trims them as ACKs arrive,
 * loss recovery decides what is lost. Sequence ranges are modular (seq.ts). Records are reused from a small pool
 * and the queue is an array with a moving head, so steady traffic allocates nothing per segment. Nothing throws.
 */
import { seqAdd, seqDiff, seqGe, seqLe, seqLt } from './seq.js';

/** A sent segment in the retransmission queue. `len` counts sequence space (a FIN counts 1). */
export class SentSeg {
  seq = 0;
  len = 0;
  fin = false;
  xmitTime = 0;
  /** Order of the last transmission among this connection's (RACK "sent after", also for equal xmitTime). */
  xmitOrder = 0;
  xmits = 0;
  sacked = false;
  lost = false;
  /** Marked lost, then retransmitted, and not delivered since (Linux still counts it in lost_out). */
  lostSent = false;
  /** It ended the application's data when sent: a retransmission carries PSH again (as Linux's skb keeps it). */
  psh = false;
}

/** Told of every record newly delivered (cumulatively ACKed or SACKed): RACK's update (RFC 8985 6.2). */
export interface DeliveryObserver {
  rackUpdate(now: number, s: SentSeg): void;
}

/** Spare SentSeg records a connection keeps for reuse once nothing is outstanding (more are left to the GC). */
const SEG_POOL_MAX = 64;
/**
 * Spares kept while records are outstanding: a bulk sender's ACK often frees more than 64 records at once (one ACK
 * per receive batch), and the next packets would allocate the rest again (74 B per segment sent in an in-memory
 * bulk transfer, 2026-12-04). Trimmed to SEG_POOL_MAX when the queue empties.
 */
const SEG_POOL_BUSY = 4096;

export class Scoreboard {
  /** The records from segHead on are outstanding, in sequence order. */
  segs: SentSeg[] = [];
  segHead = 0;
  /** Spare SentSeg records (made on the first acknowledged segment: idle connections keep no array). */
  segPool: SentSeg[] | null = null;
  sackedBytes = 0;
  /** Bytes marked lost and not yet retransmitted (what RFC 6675's pipe leaves out). */
  lostBytes = 0;
  /**
   * Bytes marked lost, retransmitted since, and neither SACKed nor acknowledged: with lostBytes, Linux's lost_out
   * (tcpi_lost), which counts a lost segment until it is delivered, retransmitted or not.
   */
  lostSentBytes = 0;
  /** Records retransmitted at least once and not yet acknowledged. */
  retransOut = 0;
  /** Counts transmissions of data / FIN (SentSeg.xmitOrder). */
  xmitCounter = 0;
  /** A record carrying our FIN was cumulatively acknowledged. */
  finDelivered = false;

  /** No record is outstanding. */
  get empty(): boolean {
    return this.segHead >= this.segs.length;
  }

  headSeg(): SentSeg | undefined {
    return this.segHead < this.segs.length ? this.segs[this.segHead] : undefined;
  }

  /**
   * Records for `len` data bytes (and a FIN) sent at once from `seq`: one per `mss` bytes, as if each segment had been
   * sent alone, so SACK, RACK, loss marking and retransmission work on what the peer sees, not on how the packet
   * left this host (TSO). Returns the sequence number after them.
   */
  record(now: number, seq: number, len: number, fin: boolean, mss: number): number {
    let rest = len;
    do {
      const n = rest > mss ? mss : rest;
      rest -= n;
      const s = this.segPool?.pop() ?? new SentSeg();
      s.seq = seq;
      s.fin = fin && rest === 0;
      s.len = n + (s.fin ? 1 : 0);
      s.xmitTime = now;
      s.xmitOrder = ++this.xmitCounter;
      s.xmits = 1;
      s.sacked = false;
      s.lost = false;
      s.lostSent = false;
      s.psh = false;
      this.segs.push(s);
      seq = seqAdd(seq, s.len);
    } while (rest > 0);
    return seq;
  }

  /**
   * After trimAcked: the RTT sample Karn's rule allows (the time since the newest fully acknowledged record was
   * sent, when it was sent only once), or -1. A field rather than trimAcked's result: a double returned from a call
   * V8 does not inline is a new heap number, one per ACK (bench/udp-alloc.ts --proto tcp --profile).
   */
  rttCandidate = -1;

  /**
   * Drop what `ack` covers cumulatively (trimming a record it covers in part), telling `rack` of each newly delivered
   * one (not those SACKed before). Sets `rttCandidate`.
   */
  trimAcked(now: number, ack: number, rack: DeliveryObserver): void {
    let rttCandidate = -1;
    const segs = this.segs;
    while (this.segHead < segs.length) {
      const s = segs[this.segHead]!;
      const end = seqAdd(s.seq, s.len);
      if (seqLe(end, ack)) {
        if (s.xmits === 1) rttCandidate = now - s.xmitTime;
        // RACK.update is for newly delivered records only (RFC 8985 6.2 step 2; Linux's tcp_clean_rtx_queue skips
        // SACKed skbs): one SACKed before would set RACK.rtt to its age, and, lying below RACK.fack, look reordered.
        if (!s.sacked) rack.rackUpdate(now, s);
        this.unaccount(s);
        if (s.fin) this.finDelivered = true;
        if (this.segPool === null) this.segPool = [s];
        else if (this.segPool.length < SEG_POOL_BUSY) this.segPool.push(s);
        this.segHead++;
      } else {
        if (seqLt(s.seq, ack)) {
          // Partial ACK of a segment: trim it.
          const cut = seqDiff(ack, s.seq);
          if (s.lost) this.lostBytes -= cut;
          if (s.lostSent) this.lostSentBytes -= cut;
          if (s.sacked) this.sackedBytes -= cut;
          s.seq = ack;
          s.len -= cut;
        }
        break;
      }
    }
    if (this.segHead === segs.length) {
      // Emptied by pops, not `length = 0`: V8 frees the backing store on length 0 and the next push (every segment
      // of a request/response exchange) allocates one again (152 B); pop keeps a small one.
      while (segs.length > 0) segs.pop();
      this.segHead = 0;
      const pool = this.segPool;
      if (pool !== null && pool.length > SEG_POOL_MAX) pool.length = SEG_POOL_MAX; // idle: a small pool
    } else if (this.segHead > 1024 && this.segHead * 2 > segs.length) {
      // splice allocates an array of the removed records (5.5 KB per MB sent in bulk); moving the rest down in place
      // and shortening the array cost three times that, the backing store growing again on the next pushes.
      segs.splice(0, this.segHead);
      this.segHead = 0;
    }
    this.rttCandidate = rttCandidate;
  }

  /** Mark the records wholly inside the SACK block [l, r) (RFC 2018), telling `rack` of each newly SACKed one. */
  markSacked(now: number, l: number, r: number, rack: DeliveryObserver): void {
    for (let i = this.segHead; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      if (seqGe(s.seq, r)) break;
      if (s.sacked || seqLt(s.seq, l)) continue;
      if (seqLe(seqAdd(s.seq, s.len), r)) {
        s.sacked = true;
        this.sackedBytes += s.len;
        if (s.lost) {
          s.lost = false;
          this.lostBytes -= s.len;
        }
        this.clearLostSent(s);
        rack.rackUpdate(now, s);
      }
    }
  }

  markLost(s: SentSeg): void {
    if (s.lost || s.sacked) return;
    this.clearLostSent(s); // lost again: counted in lostBytes
    s.lost = true;
    this.lostBytes += s.len;
  }

  /** Every outstanding record is lost (a retransmission timeout, RFC 5681 3.1 / RFC 6298 5.4). */
  markAllLost(): void {
    for (let i = this.segHead; i < this.segs.length; i++) this.markLost(this.segs[i]!);
  }

  /**
   * RFC 6675 4 IsLost with DupThresh 3: an original transmission with more than 2 * SMSS bytes SACKed above it is
   * lost. Returns whether any record was newly marked.
   */
  markLostByDupThresh(mss: number): boolean {
    let marked = false;
    let above = 0;
    for (let i = this.segs.length - 1; i >= this.segHead; i--) {
      const s = this.segs[i]!;
      if (s.sacked) above += s.len;
      else if (!s.lost && s.xmits === 1 && above > 2 * mss) {
        this.markLost(s);
        marked = true;
      }
    }
    return marked;
  }

  /** Records carrying more than `mss` data bytes are lost (the path MTU fell: RFC 1191 6.5, Linux tcp_simple_retransmit). */
  markOversizeLost(mss: number): void {
    for (let i = this.segHead; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      if (!s.sacked && s.len - (s.fin ? 1 : 0) > mss) this.markLost(s);
    }
  }

  /**
   * Split the record at `index` after its first `mss` bytes (for a retransmission after the MSS fell, RFC 1191 /
   * RFC 9293 3.7.3): the rest becomes the next record, with the same transmission history.
   */
  split(index: number, mss: number): void {
    const s = this.segs[index]!;
    const rest = this.segPool?.pop() ?? new SentSeg();
    rest.seq = seqAdd(s.seq, mss);
    rest.len = s.len - mss;
    rest.fin = s.fin;
    rest.xmitTime = s.xmitTime;
    rest.xmitOrder = s.xmitOrder;
    rest.xmits = s.xmits;
    rest.sacked = false;
    rest.lost = s.lost;
    rest.lostSent = s.lostSent;
    rest.psh = s.psh; // PSH stays on the tail, as Linux's tcp_fragment moves it to the second part
    if (rest.xmits > 1) this.retransOut++;
    s.len = mss;
    s.fin = false;
    s.psh = false;
    this.segs.splice(index + 1, 0, rest);
  }

  /**
   * Cut the run of lost, never retransmitted, un-SACKed data records that starts at `index` into records of `mss`
   * bytes from its first byte (after the path MTU fell, as Linux's tcp_simple_retransmit re-segments the queue from
   * SND.UNA), instead of splitting each old record in two. The run ends at a record that is not such a one, or that
   * carries a FIN. Returns false (nothing done) when the record at `index` is not one.
   */
  recut(index: number, mss: number): boolean {
    const segs = this.segs;
    const first = segs[index]!;
    let end = index;
    let bytes = 0;
    while (end < segs.length) {
      const s = segs[end]!;
      if (!s.lost || s.sacked || s.xmits !== 1 || s.fin || (end > index && s.seq !== seqAdd(first.seq, bytes))) break;
      bytes += s.len;
      end++;
    }
    if (end === index) return false;
    const psh = segs[end - 1]!.psh;
    const n = Math.ceil(bytes / mss);
    const old = end - index;
    for (let i = old; i < n; i++) segs.splice(index + i, 0, this.segPool?.pop() ?? new SentSeg());
    for (let i = n; i < old; i++) {
      const [s] = segs.splice(index + n, 1);
      if (this.segPool !== null && this.segPool.length < SEG_POOL_MAX) this.segPool.push(s!);
    }
    let seq = first.seq;
    const { xmitTime, xmitOrder } = first;
    for (let i = 0; i < n; i++) {
      const s = segs[index + i]!;
      s.seq = seq;
      s.len = Math.min(mss, bytes - i * mss);
      s.fin = false;
      s.xmitTime = xmitTime;
      s.xmitOrder = xmitOrder;
      s.xmits = 1;
      s.sacked = false;
      s.lost = true; // lostBytes is unchanged: the same bytes
      s.lostSent = false;
      s.psh = i === n - 1 && psh;
      seq = seqAdd(seq, s.len);
    }
    return true;
  }

  /** The record `s` went out again at `now`. */
  retransmitted(now: number, s: SentSeg): void {
    if (s.lost) {
      s.lost = false;
      this.lostBytes -= s.len;
      s.lostSent = true;
      this.lostSentBytes += s.len;
    }
    if (s.xmits === 1) this.retransOut++;
    s.xmits++;
    s.xmitTime = now;
    s.xmitOrder = ++this.xmitCounter;
  }

  private clearLostSent(s: SentSeg): void {
    if (!s.lostSent) return;
    s.lostSent = false;
    this.lostSentBytes -= s.len;
  }

  private unaccount(s: SentSeg): void {
    if (s.sacked) this.sackedBytes -= s.len;
    if (s.lost) this.lostBytes -= s.len;
    this.clearLostSent(s);
    if (s.xmits > 1) this.retransOut--;
  }
}
