/**
 * Text output of `byway stat` (like nstat: one counter a line, dotted names, deltas between two samples) and
 * `byway ss` (like `ss -tuni`: a line per socket, then the TCP info record indented).
 */

/** Every number in a nested object, by dotted name ('stack.tcp.activeOpens'). */
export function flatten(o: unknown, prefix = '', out = new Map<string, number>()): Map<string, number> {
  if (typeof o === 'number') out.set(prefix, o);
  else if (o !== null && typeof o === 'object' && !Array.isArray(o)) {
    for (const [k, v] of Object.entries(o)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

const SKIP = new Set(['pid', 'time']);

/** nstat-like lines: counters (all, or the non-zero ones), or the change since `previous` (the changed ones). */
export function formatStat(sample: Record<string, unknown>, opts: { all?: boolean; previous?: Record<string, unknown> } = {}): string {
  const now = flatten(sample);
  const before = opts.previous ? flatten(opts.previous) : undefined;
  const rows: Array<[string, number]> = [];
  for (const [name, v] of now) {
    if (SKIP.has(name)) continue;
    const value = before ? v - (before.get(name) ?? 0) : v;
    if (value !== 0 || opts.all) rows.push([name, value]);
  }
  const width = Math.max(8, ...rows.map(([n]) => n.length));
  const head: string[] = [];
  if (!before) {
    for (const k of ['spec', 'netns', 'profile', 'pollMode', 'rules', 'cluster']) if (sample[k] !== undefined) head.push(`#${k} ${String(sample[k])}`);
    if (Array.isArray(sample['addresses'])) head.push(`#addresses ${(sample['addresses'] as string[]).join(',')}`);
    const paths = sample['paths'] as { lastFailure?: string; lastOtherPath?: string } | undefined;
    if (paths?.lastFailure) head.push(`#lastFailure ${paths.lastFailure}`);
    if (paths?.lastOtherPath) head.push(`#lastOtherPath ${paths.lastOtherPath}`);
  } else {
    const dt = (Number(sample['time']) - Number(opts.previous!['time'])) / 1000;
    head.push(`#delta over ${dt.toFixed(1)} s`);
  }
  return [...head, ...rows.map(([n, v]) => `${n.padEnd(width)} ${v}`)].join('\n') + '\n';
}

const SS_STATE: Record<string, string> = { ESTABLISHED: 'ESTAB', 'SYN-RECEIVED': 'SYN-RECV', 'FIN-WAIT-1': 'FIN-WAIT-1', 'FIN-WAIT-2': 'FIN-WAIT-2', 'TIME-WAIT': 'TIME-WAIT', 'CLOSE-WAIT': 'CLOSE-WAIT', 'LAST-ACK': 'LAST-ACK', CLOSING: 'CLOSING', 'SYN-SENT': 'SYN-SENT', LISTEN: 'LISTEN', CLOSED: 'UNCONN' };

interface TcpRow {
  state: string;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  info: Record<string, unknown>;
}

const segments = (bytes: unknown, mss: unknown): string =>
  typeof bytes === 'number' && typeof mss === 'number' && mss > 0 ? String(Math.max(1, Math.round(Math.min(bytes, 0x7fffffff) / mss))) : '-';
const ms = (v: unknown): string => (typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : '-');

/** The indented second line of a TCP row, in ss -i's words where it has them. */
export function formatTcpInfo(i: Record<string, unknown>): string {
  const parts = [
    String(i['congestionControl'] ?? ''),
    i['timestamps'] ? 'ts' : '',
    i['sackPermitted'] ? 'sack' : '',
    i['ecn'] ? 'ecn' : '',
    `wscale:${String(i['sndWscale'])},${String(i['rcvWscale'])}`,
    `rto:${ms(i['rto'])}`,
    `rtt:${ms(i['srtt'])}/${ms(i['rttvar'])}`,
    `mss:${String(i['sndMss'])}`,
    `rcvmss:${String(i['rcvMss'])}`,
    // in segments, as ss prints them (byway counts bytes)
    `cwnd:${segments(i['cwnd'], i['sndMss'])}`,
    `ssthresh:${segments(i['ssthresh'], i['sndMss'])}`,
    `bytes_sent:${String(i['bytesSent'])}`,
    `bytes_acked:${String(i['bytesAcked'])}`,
    `bytes_received:${String(i['bytesReceived'])}`,
    `segs_out:${String(i['segsOut'])}`,
    `segs_in:${String(i['segsIn'])}`,
    `unacked:${String(i['unacked'])}`,
    `retrans:${String(i['rtoCount'])}/${String(i['retransmits'])}`,
    `fast_recoveries:${String(i['fastRecoveries'])}`,
    `sacked:${String(i['sackedBytes'])}`,
    `lost:${String(i['lostBytes'])}`,
    `dsack:${String(i['dsacksReceived'])}`,
    `rack_losses:${String(i['rackLosses'])}`,
    `tlp:${String(i['tlpProbes'])}`,
    `snd_wnd:${String(i['sndWnd'])}`,
    `rcv_wnd:${String(i['rcvWnd'])}`,
  ];
  return '\t ' + parts.filter((p) => p !== '').join(' ');
}

/** `byway ss`'s table; the answer of `byway run --workers`'s supervisor adds a Worker column (each row's `worker`). */
export function formatSs(answer: Record<string, unknown>): string {
  const cluster = Array.isArray(answer['workers']);
  const rows: string[][] = [['Netid', 'State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port', ...(cluster ? ['Worker'] : [])]];
  const extra: Array<string | undefined> = [undefined];
  const add = (row: string[], w: unknown, more?: string): void => {
    rows.push(cluster ? [...row, String(w)] : row);
    extra.push(more);
  };
  for (const l of (answer['listening'] as Array<{ address: string; port: number; worker?: number }>) ?? []) {
    add(['tcp', 'LISTEN', '0', '0', `${l.address}:${l.port}`, '0.0.0.0:*'], l.worker);
  }
  for (const c of (answer['tcp'] as Array<TcpRow & { worker?: number }>) ?? []) {
    add(['tcp', SS_STATE[c.state] ?? c.state, String(c.info['readable'] ?? 0), String(c.info['unacked'] ?? 0), `${c.localAddress}:${c.localPort}`, `${c.remoteAddress}:${c.remotePort}`], c.worker, formatTcpInfo(c.info));
  }
  for (const u of (answer['udp'] as Array<{ localAddress: string; localPort: number; remoteAddress: string; remotePort: number; worker?: number }>) ?? []) {
    add(['udp', u.remotePort ? 'ESTAB' : 'UNCONN', '0', '0', `${u.localAddress}:${u.localPort}`, u.remotePort ? `${u.remoteAddress}:${u.remotePort}` : '0.0.0.0:*'], u.worker);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines: string[] = [];
  rows.forEach((r, i) => {
    lines.push(r.map((cell, c) => cell.padEnd(widths[c]!)).join(' ').trimEnd());
    if (extra[i] !== undefined) lines.push(extra[i]!);
  });
  return lines.join('\n') + '\n';
}
