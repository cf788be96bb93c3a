/**
 * Linux `struct tcp_info` fields (the names `%{ }%` blocks use) from byway's `TcpConnection.info()`. Linux counts
 * cwnd, ssthresh and the scoreboard in packets, byway in bytes: the packet figures are bytes / sndMss. Times are
 * microseconds. A field byway has no counterpart for yields undefined, and the script fails saying so: nothing is
 * made up.
 */
import type { TcpConnection } from '../../protocols/tcp/connection.js';
import { LINUX_CA_STATE } from '../../protocols/tcp/ca-state.js';

const INFINITE_SSTHRESH = 0x7fffffff;

export function tcpInfoField(conn: TcpConnection, name: string, now: number): number | undefined {
  const i = conn.info(now);
  const mss = i.sndMss > 0 ? i.sndMss : 1;
  const packets = (bytes: number): number => Math.ceil(bytes / mss);
  switch (name) {
    case 'tcpi_snd_cwnd':
      return Math.floor(i.cwnd / mss);
    case 'tcpi_snd_ssthresh':
      // Never set (byway's INITIAL_SSTHRESH is Linux's TCP_INFINITE_SSTHRESH, in bytes): reported as Linux does.
      return !Number.isFinite(i.ssthresh) || i.ssthresh >= INFINITE_SSTHRESH ? INFINITE_SSTHRESH : Math.floor(i.ssthresh / mss);
    case 'tcpi_unacked':
      return packets(i.unacked);
    case 'tcpi_sacked':
      return packets(i.sackedBytes);
    case 'tcpi_lost':
      return packets(i.lostOutBytes);
    case 'tcpi_snd_mss':
      return i.sndMss;
    case 'tcpi_rcv_mss':
      return i.rcvMss;
    case 'tcpi_advmss':
      return i.advMss;
    case 'tcpi_ca_state':
      return LINUX_CA_STATE[i.caState];
    case 'tcpi_busy_time':
      return Math.round(i.busyTime * 1000);
    case 'tcpi_rwnd_limited':
      return Math.round(i.rwndLimited * 1000);
    case 'tcpi_sndbuf_limited':
      return Math.round(i.sndbufLimited * 1000);
    case 'tcpi_retrans':
      return i.retransOut;
    case 'tcpi_probes':
      return i.probes;
    case 'tcpi_reordering':
      return i.reordering;
    case 'tcpi_reord_seen':
      return i.reordSeen;
    case 'tcpi_min_rtt':
      return i.minRtt !== undefined ? Math.round(i.minRtt * 1000) : 0;
    case 'tcpi_backoff':
      return i.backoff;
    case 'tcpi_rtt':
      return i.srtt !== undefined ? Math.round(i.srtt * 1000) : 0;
    case 'tcpi_rttvar':
      return i.rttvar !== undefined ? Math.round(i.rttvar * 1000) : 0;
    case 'tcpi_rto':
      return Math.round(i.rto * 1000);
    case 'tcpi_rcv_rtt':
      return i.rcvRtt !== undefined ? Math.round(i.rcvRtt * 1000) : 0;
    case 'tcpi_snd_wscale':
      return i.sndWscale;
    case 'tcpi_rcv_wscale':
      return i.rcvWscale;
    default:
      return undefined;
  }
}
