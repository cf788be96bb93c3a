/**
 * UDP (RFC 768) as a transport of the stack: datagrams in (read in place in the frame, checksum checked unless the
 * device vouched for it, demultiplexed to a socket of the table in udp.ts), datagrams out through the transmit
 * token, and the ICMP errors that quote them.
 */
import { BywayError } from '../../protocols/util/errors.js';
import type { Rng } from '../../protocols/util/rng.js';
import { read16 } from '../../protocols/util/bytes.js';
import { onesSum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { IpProtocol } from '../../protocols/ipv4/wire.js';
import { isMulticast } from '../../protocols/ipv4/address.js';
import { IcmpType, UnreachableCode } from '../../protocols/icmp/wire.js';
import { UDP_HEADER_LEN, writeUdpHeader } from '../../protocols/udp/wire.js';
import { icmpToError } from './icmp.js';
import { portClaims, type IcmpErrorKind, type Transport, type TransportHost } from './transport.js';
import { UdpTable, type UdpOptions, type UdpSocket } from './udp.js';

export class UdpTransport implements Transport {
  readonly protocol = IpProtocol.UDP;
  readonly table: UdpTable;

  constructor(
    private readonly host: TransportHost,
    private readonly csum: { tx: boolean; rx: boolean },
    rng: Rng,
    options: Partial<UdpOptions> | undefined,
  ) {
    this.table = new UdpTable(
      {
        sendUdp: (now, sock, dstIp, dstPort, data) => this.send(now, sock, dstIp, dstPort, data),
        isLocalAddress: (ip) => host.isLocalAddress(ip),
        ...portClaims(host.flows, 'udp'),
      },
      rng,
      options,
    );
  }

  input(now: number, buf: Uint8Array, ipOff: number, off: number, ipEnd: number, src: number, dst: number, broadcast: boolean, trusted: boolean): void {
    const st = this.table.stats;
    st.rx++;
    // The hot path reads the UDP header in place inside the frame (the checks of UdpPacket.check, RFC 768):
    // one view per datagram (the payload handed to the socket) and one checksum pass, no header object.
    if (ipEnd - off < UDP_HEADER_LEN) {
      st.truncated++;
      return;
    }
    const len = read16(buf, off + 4);
    if (len < UDP_HEADER_LEN) {
      st.badLength++;
      return;
    }
    if (len > ipEnd - off) {
      st.truncated++;
      return;
    }
    // RFC 768: a zero checksum field means the sender computed none.
    if (this.csum.rx && !trusted && read16(buf, off + 6) !== 0 && onesSum(buf, off, off + len, pseudoHeaderSum(src, dst, IpProtocol.UDP, len)) !== 0xffff) {
      st.badChecksum++;
      return;
    }
    const srcPort = read16(buf, off);
    const dstPort = read16(buf, off + 2);
    const ps = off + UDP_HEADER_LEN;
    const pe = off + len;
    if (broadcast) {
      const targets = isMulticast(dst) ? this.table.multicastTargets(dst, dstPort, src, srcPort) : this.table.broadcastTargets(dstPort);
      for (const s of targets) if (!s.deliverAt(buf, ps, pe, src, srcPort, dst)) st.recvBufferDrops++;
      if (targets.length === 0) st.noPort++;
      return;
    }
    const sock = this.table.lookup(dst, dstPort, src, srcPort);
    if (sock === undefined) {
      if (this.table.stray?.(src, dst, buf.subarray(off, off + len)) === true) {
        st.strayHandedOff++;
        return;
      }
      st.noPort++;
      this.host.sendIcmpError(buf, ipOff, ipEnd, IcmpType.DestUnreachable, UnreachableCode.Port, 0);
      return;
    }
    if (!sock.deliverAt(buf, ps, pe, src, srcPort, dst)) st.recvBufferDrops++;
  }

  icmpError(_now: number, src: number, dst: number, quoted: Uint8Array, kind: IcmpErrorKind, code: number): boolean {
    const sock = this.table.lookup(src, read16(quoted, 0), dst, read16(quoted, 2));
    if (sock === undefined || (sock.connected && sock.remotePort !== read16(quoted, 2))) return false;
    this.table.stats.icmpErrors++;
    sock.onError?.(icmpToError(kind, code));
    return true;
  }

  pollAt(): number | undefined {
    return undefined;
  }

  private send(now: number, sock: UdpSocket, dstIp: number, dstPort: number, data: Uint8Array): void {
    const host = this.host;
    const st = this.table.stats;
    if (host.isBroadcastFor(dstIp) && !sock.broadcast) {
      st.txErrors++;
      throw new BywayError('EACCES', 'sending to a broadcast address needs setBroadcast(true)');
    }
    const src = sock.localIp !== 0 ? sock.localIp : host.sourceFor(dstIp);
    if (src === undefined) {
      st.txErrors++;
      throw new BywayError('ENETUNREACH', 'no route to the destination');
    }
    const len = UDP_HEADER_LEN + data.length;
    const unreachable = sock.onError !== undefined ? sock.reportUnreachable : undefined;
    const group = isMulticast(dstIp);
    const ttl = group ? sock.multicastTtl : sock.ttl;
    const slot = host.output.begin(now, src, dstIp, IpProtocol.UDP, len, ttl, 0, 0, unreachable);
    if (slot === null) {
      st.txErrors++;
      throw new BywayError(host.output.error, 'cannot send the datagram');
    }
    slot.buf.set(data, slot.offset + UDP_HEADER_LEN);
    writeUdpHeader(slot.buf, slot.offset, sock.localPort, dstPort, len, src, dstIp, this.csum.tx || slot.scratch);
    // IP_MULTICAST_LOOP (on by default, as Linux): our own sockets in the group hear the datagram too.
    const loop = group && sock.multicastLoop && host.multicastMember?.(dstIp) === true ? slot.buf.slice(slot.offset, slot.offset + len) : undefined;
    slot.commit(now);
    if (loop !== undefined) host.output.loopbackCopy(src, dstIp, IpProtocol.UDP, ttl, loop);
    st.tx++;
  }
}
