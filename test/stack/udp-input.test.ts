/**
 * The UDP receive path reads the header in place inside the IPv4 view: each malformed case is dropped and counted
 * as UdpPacket.check would classify it (RFC 768), a zero checksum is accepted, a good one delivers the payload.
 */
import { describe, expect, it } from 'vitest';
import { SOFTWARE_CHECKSUMS, newDriverStats, type FrameDriver, type FrameSink } from '../../drivers/types.js';
import { checksum, onesSum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { makeStack } from './harness.js';

const MAC = new Uint8Array([2, 0, 0, 0, 0, 1]);
const PEER = new Uint8Array([2, 0, 0, 0, 0, 2]);
const SRC = 0x0a000002;
const DST = 0x0a000001;

/** Ethernet + IPv4 + UDP to 10.0.0.1:9000; `udpLen` is the UDP length field, `ipPayload` the bytes after IPv4. */
function frame(o: { payload: number; udpLen?: number; ipPayload?: number; csum?: 'good' | 'bad' | 'zero' }): Uint8Array {
  const ipPayload = o.ipPayload ?? 8 + o.payload;
  const f = new Uint8Array(14 + 20 + ipPayload);
  f.set(MAC, 0);
  f.set(PEER, 6);
  f[12] = 0x08;
  f[14] = 0x45;
  const dv = new DataView(f.buffer);
  dv.setUint16(16, 20 + ipPayload);
  f[22] = 64;
  f[23] = 17;
  dv.setUint32(26, SRC);
  dv.setUint32(30, DST);
  dv.setUint16(24, checksum(f, 14, 34));
  if (ipPayload >= 8) {
    const udpLen = o.udpLen ?? 8 + o.payload;
    dv.setUint16(34, 40000);
    dv.setUint16(36, 9000);
    dv.setUint16(38, udpLen);
    for (let i = 42; i < f.length; i++) f[i] = i & 0xff;
    if (o.csum !== 'zero' && udpLen >= 8 && udpLen <= ipPayload) {
      let c = ~onesSum(f, 34, 34 + udpLen, pseudoHeaderSum(SRC, DST, 17, udpLen)) & 0xffff;
      if (c === 0) c = 0xffff;
      dv.setUint16(40, o.csum === 'bad' ? c ^ 0x0101 : c);
    }
  }
  return f;
}

class Inject implements FrameDriver {
  readonly stats = newDriverStats();
  readonly caps = { medium: 'ethernet' as const, mtu: 1500, maxBatch: 64, checksum: SOFTWARE_CHECKSUMS };
  readonly hwAddress = MAC;
  queue: Uint8Array[] = [];
  receive(_now: number, max: number, sink: FrameSink): number {
    const batch = this.queue.splice(0, max);
    for (const f of batch) sink(f);
    return batch.length;
  }
  txReserve(len: number): Uint8Array | null {
    return new Uint8Array(len);
  }
  txCommit(): void {}
  flush(): void {}
  setReadyCallback(): void {}
  close(): void {}
}

describe('UDP receive path', () => {
  it('delivers good and zero-checksum datagrams and counts each malformed one as UdpPacket.check would', () => {
    const d = new Inject();
    const stack = makeStack(d, '10.0.0.1/24', 1);
    stack.neighbours.learn(0, SRC, PEER, true, false);
    const sock = stack.udp.createSocket();
    sock.bind(0, 9000);
    const got: Array<{ data: number[]; srcPort: number }> = [];
    sock.onMessage = (data, _srcIp, srcPort) => got.push({ data: [...data], srcPort });
    d.queue.push(
      frame({ payload: 5 }),
      frame({ payload: 3, csum: 'zero' }),
      frame({ payload: 5, csum: 'bad' }),
      frame({ payload: 0, ipPayload: 7 }), // shorter than a UDP header
      frame({ payload: 4, udpLen: 7 }), // length field below the header size
      frame({ payload: 4, udpLen: 13 }), // length field past the IPv4 payload
      frame({ payload: 6, udpLen: 10 }), // IPv4 payload longer than the datagram: trailing bytes ignored
    );
    stack.poll(1);
    expect(got).toEqual([
      { data: [42, 43, 44, 45, 46], srcPort: 40000 },
      { data: [42, 43, 44], srcPort: 40000 },
      { data: [42, 43], srcPort: 40000 },
    ]);
    expect(stack.stats.udp.badChecksum).toBe(1);
    expect(stack.stats.udp.truncated).toBe(2);
    expect(stack.stats.udp.badLength).toBe(1);
    expect(stack.stats.udp.rx).toBe(7);
  });
});
