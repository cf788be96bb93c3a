/**
 * The state oracles for a live stack, checked after every input: bounded memory (reassembly, neighbours, UDP
 * queues, TCP buffers) within the configured caps, consistent TCP sequence state (through `info()`), sane
 * timers (pollAt finite or undefined), and stats counters that are non-negative integers.
 */
import type { NetStack } from '../../src/stack/stack.js';
import { TcpConnection } from '../../protocols/tcp/connection.js';
import { check } from './target.js';

function checkCounters(obj: unknown, path: string): void {
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (typeof v === 'number') check(Number.isInteger(v) && v >= 0, `counter ${path}.${k} = ${v}`);
    else if (typeof v === 'object' && v !== null) checkCounters(v, `${path}.${k}`);
  }
}

export function checkConnection(c: TcpConnection, opts: { sendBuffer: number; maxReceiveBuffer: number; oooLimit: number; minRto: number; maxRto: number }): void {
  const i = c.info();
  const id = `TCP ${c.localPort}->${c.remotePort} in ${i.state}`;
  // RFC 9293 3.3.1: SND.UNA =< SND.NXT, and what is in flight is at most the send buffer plus SYN and FIN.
  check(Number.isInteger(i.unacked) && i.unacked >= 0 && i.unacked <= opts.sendBuffer + 2, () => `${id}: SND.NXT - SND.UNA = ${i.unacked}`);
  check(Number.isFinite(i.bytesInFlight) && i.bytesInFlight >= 0 && i.bytesInFlight <= 2 * i.unacked + 2, () => `${id}: pipe ${i.bytesInFlight} with ${i.unacked} unacked`);
  check(i.sackedBytes >= 0 && i.sackedBytes <= i.unacked, () => `${id}: ${i.sackedBytes} SACKed bytes of ${i.unacked} unacked`);
  check(i.lostBytes >= 0 && i.lostBytes <= i.unacked, () => `${id}: ${i.lostBytes} lost bytes of ${i.unacked} unacked`);
  check(Number.isInteger(i.sndWnd) && i.sndWnd >= 0 && i.sndWnd <= 65535 * 2 ** 14, () => `${id}: SND.WND ${i.sndWnd}`);
  check(Number.isInteger(i.rcvWnd) && i.rcvWnd >= 0 && i.rcvWnd <= 65535 * 2 ** 14, () => `${id}: RCV.WND ${i.rcvWnd}`);
  check(i.readable >= 0 && i.readable <= i.receiveBuffer && i.receiveBuffer <= opts.maxReceiveBuffer, () => `${id}: ${i.readable} readable, buffer ${i.receiveBuffer}`);
  check(i.oooBytes >= 0 && i.oooBytes <= opts.oooLimit, () => `${id}: ${i.oooBytes} out-of-order bytes`);
  check(Number.isFinite(i.cwnd) && i.cwnd > 0, () => `${id}: cwnd ${i.cwnd}`);
  check(!Number.isNaN(i.ssthresh) && i.ssthresh > 0, () => `${id}: ssthresh ${i.ssthresh}`);
  check(Number.isFinite(i.rto) && i.rto >= opts.minRto && i.rto <= opts.maxRto, () => `${id}: rto ${i.rto}`);
  check(i.srtt === undefined || (Number.isFinite(i.srtt) && i.srtt >= 0), () => `${id}: srtt ${i.srtt}`);
  check(i.rttvar === undefined || (Number.isFinite(i.rttvar) && i.rttvar >= 0), () => `${id}: rttvar ${i.rttvar}`);
  check(i.sndMss >= 1 && i.sndMss <= 65535 && Number.isInteger(i.sndMss), () => `${id}: MSS ${i.sndMss}`);
  check(i.sndWscale >= 0 && i.sndWscale <= 14 && i.rcvWscale >= 0 && i.rcvWscale <= 14, () => `${id}: window scales ${i.sndWscale}/${i.rcvWscale}`);
  check(c.state !== 'CLOSED', () => `${id}: a CLOSED connection is still in the table`);
}

/** Check every oracle on stack `s`; throws OracleError on the first that fails. */
export function checkStack(s: NetStack, now: number, counters = true): void {
  const r = s.reassembler;
  check(r.memory >= 0 && r.memory <= r.options.maxBytes, () => `reassembler.memory ${r.memory} > cap ${r.options.maxBytes}`);
  check(r.inProgress <= r.options.maxDatagrams, () => `${r.inProgress} datagrams in reassembly > ${r.options.maxDatagrams}`);
  const n = s.neighbours;
  check(n.size <= n.options.maxEntries, () => `neighbour table ${n.size} > cap ${n.options.maxEntries}`);
  check(n.queuedBytes >= 0 && n.queuedBytes <= n.options.maxQueuedBytes, () => `neighbour queue ${n.queuedBytes} bytes > cap ${n.options.maxQueuedBytes}`);
  for (const u of s.udp.sockets()) {
    check(u.queuedBytes >= 0 && u.queuedBytes <= u.recvBufferBytes, () => `UDP :${u.localPort} queue ${u.queuedBytes} > ${u.recvBufferBytes}`);
  }
  check(s.udp.size <= s.udp.options.maxSockets, 'UDP socket count over its cap');
  const at = s.pollAt(now);
  check(at === undefined || (typeof at === 'number' && Number.isFinite(at)), () => `pollAt(${now}) = ${at}`);
  const tcp = s.tcp;
  if (tcp !== undefined) {
    const o = tcp.opts;
    const conns = [...tcp.connections()];
    check(conns.length === tcp.connectionCount, () => `connections() lists ${conns.length} but connectionCount is ${tcp.connectionCount}`);
    check(tcp.connectionCount <= o.maxConnections, () => `${tcp.connectionCount} TCP connections > ${o.maxConnections}`);
    let timeWait = 0;
    for (const c of conns) {
      if (c.state === 'TIME-WAIT') timeWait++;
      if (c instanceof TcpConnection) checkConnection(c, o); // not a TIME-WAIT record (TimeWaitView)
    }
    check(timeWait <= o.maxTimeWait, () => `${timeWait} connections in TIME-WAIT > ${o.maxTimeWait}`);
  }
  if (counters) checkCounters(s.stats, 'stats');
}

/** The bytes the stack says it holds for peers: reassembly, ARP queues, UDP queues, TCP buffers. */
export function accountedBytes(s: NetStack): number {
  let n = s.reassembler.memory + s.neighbours.queuedBytes;
  for (const u of s.udp.sockets()) n += u.queuedBytes;
  if (s.tcp) for (const c of s.tcp.connections()) {
    const i = c.info();
    n += i.readable + i.oooBytes + i.unacked;
  }
  return n;
}

/** Which counters moved between two flattened snapshots: the feedback signature of an input. */
export function flatten(obj: unknown, path = '', out: Map<string, number> = new Map()): Map<string, number> {
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (typeof v === 'number') out.set(path + k, v);
    else if (typeof v === 'object' && v !== null) flatten(v, `${path}${k}.`, out);
  }
  return out;
}

export function moved(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) out.push(k);
  return out;
}
