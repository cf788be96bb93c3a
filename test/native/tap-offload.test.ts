/**
 * TAP with TCP segmentation offload (openTap({ tso: true })) against the Linux kernel, frame level: the test plays
 * a TCP endpoint by hand on byway's side of the TAP.
 *
 * Namespace A holds the TAP (the kernel owns 10.78.1.1 on it, byway is 10.78.1.2) and forwards to namespace B
 * (10.78.2.2) over a veth pair without checksum offload, so a GSO frame byway writes is cut by the kernel's
 * software GSO with software checksums, and B's TCP verifies every segment: a wrong pseudo-header rule, a FIN or
 * a sequence number copied wrongly into the segments all show up as missing or wrong bytes at B's socket.
 *
 * (a) byway -> kernel: hand-made handshake, then 64 KiB-class frames committed with segment 1448 (TCP timestamps
 *     on), to a Node server in B (forwarded and segmented) and in A (delivered locally as one packet); the server
 *     reports the byte count and SHA-256 of what it read.
 * (b) kernel -> byway: a Node client in A sends bulk data to byway's hand-made listener; frames above the MTU
 *     arrive with RxFlag.L4ChecksumValid and a partial checksum (the pseudo-header sum), their bytes in order.
 * (c) a non-TCP frame committed with a segment goes out as a plain frame.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openTap, type TapDriver } from '../../drivers/tap/index.js';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { RxFlag } from '../../drivers/types.js';
import { checksum, fold, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { NetLab, describePrivileged, execIn, ipIn, uniqueName } from '../helpers/netns.js';
import { echoReplyAt, ethernet, get16, get32, icmpEchoPacket, ip, tsOption, writeTcpFrame, type TcpOut } from './frames.js';
import { write16 } from '../../protocols/util/bytes.js';

const KERNEL = ip('10.78.1.1');
const BYWAY = ip('10.78.1.2');
const FAR = ip('10.78.2.2');
const SEGMENT = 1448; // MSS 1460 less the 12 bytes of the timestamps option

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;

/** Build and send one TCP frame through the driver, committed with `segment`. */
function sendTcp(t: TapDriver, s: TcpOut, segment = 0): number {
  const len = 14 + 40 + s.options.length + s.payload.length;
  const buf = t.txReserve(len);
  if (buf === null) throw new Error('txReserve returned null');
  const n = writeTcpFrame(buf, t.kernelHwAddress, t.hwAddress!, s);
  t.txCommit(0, n, segment);
  t.flush(0);
  return n;
}

/** MSS 1460 then NOP, NOP, timestamps. */
function synOptions(val: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = 2;
  b[1] = 4;
  write16(b, 2, 1460);
  b.set(tsOption(val, 0), 4);
  return b;
}

interface TcpIn {
  readonly src: number;
  readonly dst: number;
  readonly sport: number;
  readonly dport: number;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly win: number;
  readonly tsVal: number | undefined;
  /** Offset of the TCP header in the frame, and of the payload. */
  readonly l4: number;
  readonly data: number;
  readonly end: number;
}

function parseTcp(f: Uint8Array): TcpIn | undefined {
  if (f.length < 54 || get16(f, 12) !== 0x0800 || f[14]! >> 4 !== 4 || f[23] !== 6) return undefined;
  const ihl = (f[14]! & 15) * 4;
  const total = get16(f, 16);
  if (14 + total > f.length) return undefined;
  const l4 = 14 + ihl;
  const thl = (f[l4 + 12]! >> 4) * 4;
  let tsVal: number | undefined;
  for (let i = l4 + 20; i < l4 + thl; ) {
    const kind = f[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (kind === 8) tsVal = get32(f, i + 2);
    i += Math.max(2, f[i + 1]!);
  }
  return {
    src: get32(f, 26),
    dst: get32(f, 30),
    sport: get16(f, l4),
    dport: get16(f, l4 + 2),
    seq: get32(f, l4 + 4),
    ack: get32(f, l4 + 8),
    flags: f[l4 + 13]!,
    win: get16(f, l4 + 14),
    tsVal,
    l4,
    data: l4 + thl,
    end: 14 + total,
  };
}

/** Receive until `done()` or `ms` pass; `tick` runs after every receive call. False on timeout. */
async function pump(
  t: TapDriver,
  on: (f: Uint8Array, flags: number) => void,
  done: () => boolean,
  ms: number,
  tick?: () => void,
): Promise<boolean> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) return false;
    const n = t.receive(0, 64, (f, flags) => on(f, flags ?? 0));
    tick?.();
    if (n === 0 && !done()) await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

function pattern(n: number, salt: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + (i >>> 9) + salt) & 0xff;
  return b;
}

function tcpCounters(ns: string): { inSegs: number; inCsumErrors: number } {
  const lines = execIn(ns, 'cat', ['/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Tcp:'));
  const names = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/).map(Number);
  return { inSegs: vals[names.indexOf('InSegs')]!, inCsumErrors: vals[names.indexOf('InCsumErrors')]! };
}

const SERVER_JS = `
const [addr, port] = process.argv.slice(1);
const h = require('crypto').createHash('sha256');
let n = 0;
const srv = require('net').createServer((s) => {
  s.on('data', (d) => { n += d.length; h.update(d); });
  s.on('end', () => { console.log('got ' + n + ' ' + h.digest('hex')); s.end(); srv.close(); });
});
srv.listen(+port, addr, () => console.log('listening'));
setTimeout(() => process.exit(3), 20000);
`;

describePrivileged('TAP with TSO against the kernel', () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  let tap: TapDriver | undefined;
  let vethB = '';

  beforeAll(() => {
    nsA = lab.addNetns('bwo-');
    nsB = lab.addNetns('bwo-');
    tap = openTap({ name: uniqueName('bwo'), netns: nsA, tso: true });
    const mac = Array.from(tap.hwAddress!, (b) => b.toString(16).padStart(2, '0')).join(':');
    ipIn(nsA, `addr add 10.78.1.1/24 dev ${tap.ifname}`);
    ipIn(nsA, `neigh replace 10.78.1.2 lladdr ${mac} dev ${tap.ifname} nud permanent`);
    vethB = lab.addVeth(nsA, nsB, { addrA: '10.78.2.1/24', addrB: '10.78.2.2/24' }).b; // no tx checksum offload
    execIn(nsA, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    ipIn(nsB, 'route add default via 10.78.2.1');
  });
  afterAll(async () => {
    tap?.close();
    await lab.stopProcesses(500);
    lab.destroy();
  });

  it('opens with TSO caps, 64 KiB slots, and refuses tso without vnetHdr', () => {
    const t = tap!;
    expect(t.tso).toBe(true);
    expect(t.vnetHdr).toBe(true);
    expect(t.caps.tso).toEqual({ maxBytes: 65535 });
    expect(t.caps.rxMaxPacket).toBe(65535);
    expect(t.caps.checksum.tcp).toEqual({ tx: 'offload', rx: 'verify' });
    expect(t.caps.checksum.udp).toEqual({ tx: 'offload', rx: 'verify' });
    expect(t.frameCap).toBeGreaterThanOrEqual(65535 + 14);
    expect(execIn(nsA, 'ethtool', ['-k', t.ifname])).toMatch(/tcp-segmentation-offload: on/);
    expect(() => openTap({ name: uniqueName('bwo'), netns: nsA, tso: true, vnetHdr: false })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => t.txCommit(0, 10, 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    t.txReserve(100);
    expect(() => t.txCommit(0, 100, 70000)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    t.txCommit(0, 0); // give the reservation back as an empty frame (dropped by the kernel)
    t.flush(0);
  });

  /**
   * Connect by hand from byway to a Node server at (dst, port), send `data` in frames of up to `maxFrame` payload
   * bytes committed with segment 1448, FIN with the last byte (on a frame of `lastLen` bytes), and wait for the
   * server's report. Returns what the server said and how many frames above the MTU were sent.
   */
  async function sendStream(t: TapDriver, ns: string, dst: number, port: number, data: Uint8Array, lastLen: number) {
    const srv = lab.spawnIn(ns, process.execPath, ['-e', SERVER_JS, dst === FAR ? '10.78.2.2' : '10.78.1.1', String(port)]);
    const listening = await pump(t, () => {}, () => srv.output().includes('listening'), 5000);
    expect(listening, srv.output()).toBe(true);
    const sport = 40000 + (port % 1000);
    const iss = 0x10000000;
    let ts = 1000;
    let tsEcr = 0;
    let id = 1;
    let rcvNxt = 0;
    let synAck = false;
    let sndUna = iss;
    let sndWnd = 0;
    let peerFin = false;
    const rxFlags = { trusted: 0, untrusted: 0 };
    const mine = (p: TcpIn | undefined): p is TcpIn => p !== undefined && p.src === dst && p.sport === port && p.dport === sport;
    const onFrame = (f: Uint8Array, flags: number): void => {
      const p = parseTcp(f);
      if (!mine(p)) return;
      if (flags & RxFlag.L4ChecksumValid) rxFlags.trusted++;
      else rxFlags.untrusted++;
      if (p.flags & RST) throw new Error('connection reset by the kernel');
      if (p.tsVal !== undefined) tsEcr = p.tsVal;
      if ((p.flags & (SYN | ACK)) === (SYN | ACK)) {
        synAck = true;
        rcvNxt = (p.seq + 1) >>> 0;
      }
      if (p.flags & ACK && ((p.ack - sndUna) | 0) >= 0) {
        sndUna = p.ack;
        sndWnd = p.win; // no window scaling was offered
      }
      if (p.flags & FIN && !peerFin && synAck) {
        peerFin = true;
        rcvNxt = (p.seq + (p.end - p.data) + 1) >>> 0;
      }
    };
    const out = (seq: number, flags: number, payload: Uint8Array, segment: number, options = tsOption(ts++, tsEcr)): number =>
      sendTcp(t, { src: BYWAY, dst, sport, dport: port, seq, ack: rcvNxt, flags, win: 65535, options, payload, id: id++ }, segment);

    // Handshake (RFC 9293 section 3.5), retrying the SYN while the server comes up.
    for (let tries = 0; tries < 10 && !synAck; tries++) {
      out(iss, SYN, new Uint8Array(0), 0, synOptions(ts++));
      await pump(t, onFrame, () => synAck, 300);
    }
    expect(synAck).toBe(true);
    out((iss + 1) >>> 0, ACK, new Uint8Array(0), 0);

    // Data: as much as the window allows per frame, up to maxFrame, cut by the kernel into 1448-byte segments.
    const base = (iss + 1) >>> 0;
    let sent = 0; // bytes sent beyond base
    let big = 0;
    let lastProgress = Date.now();
    let lastUna = sndUna;
    const finSeq = (base + data.length) >>> 0;
    const allAcked = (): boolean => sndUna === ((finSeq + 1) >>> 0);
    const tick = (): void => {
      if (sndUna !== lastUna) {
        lastUna = sndUna;
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > 400) {
        sent = (sndUna - base) >>> 0; // go back N: resend from SND.UNA
        if (sent > data.length) sent = data.length;
        lastProgress = Date.now();
      }
      for (;;) {
        const left = data.length - sent;
        if (left === 0) return;
        const room = (((sndUna + sndWnd) >>> 0) - ((base + sent) >>> 0)) | 0;
        const last = left <= lastLen;
        const n = last ? left : Math.min(left - lastLen, room, 60000);
        // Wait for room rather than send slivers: a full frame, or at least one segment.
        if (n > room || n < Math.min(SEGMENT, left - (last ? 0 : lastLen))) return;
        const flags = last ? ACK | PSH | FIN : ACK;
        if (out((base + sent) >>> 0, flags, data.subarray(sent, sent + n), SEGMENT) > 14 + 1500) big++;
        sent += n;
      }
    };
    tick();
    const acked = await pump(t, onFrame, allAcked, 10_000, tick);
    expect(acked, `SND.UNA ${sndUna - base} of ${data.length + 1}, server: ${srv.output()}`).toBe(true);
    const reported = await pump(t, onFrame, () => /got \d+/.test(srv.output()), 5000);
    expect(reported, srv.output()).toBe(true);
    return { server: srv.output(), big, rxFlags };
  }

  it('byway sends 64 KiB TSO frames that the kernel cuts, checksums and forwards to a socket in another namespace', async () => {
    const t = tap!;
    const data = pattern(300_000, 7);
    const before = tcpCounters(nsB);
    const { server, big, rxFlags } = await sendStream(t, nsB, FAR, 5101, data, 20_000);
    const after = tcpCounters(nsB);
    expect(server).toContain(`got ${data.length} ${createHash('sha256').update(data).digest('hex')}`);
    expect(big).toBeGreaterThanOrEqual(3);
    // B's TCP saw the 1448-byte segments (software GSO on the veth), none of them with a bad checksum.
    expect(after.inSegs - before.inSegs).toBeGreaterThanOrEqual(Math.ceil(data.length / SEGMENT));
    expect(after.inCsumErrors).toBe(before.inCsumErrors);
    // B's answers are forwarded with full checksums nobody checked on the way (no NEEDS_CSUM, no DATA_VALID):
    // no flag, the stack must verify them.
    expect(rxFlags.untrusted).toBeGreaterThan(0);
    expect(rxFlags.trusted).toBe(0);
  }, 30_000);

  it('one TSO frame leaves the kernel as MTU-sized segments: seq, lengths, ident, checksums, flags, options', async () => {
    const t = tap!;
    // Watch B's end of the veth: the segments the kernel's software GSO made from byway's frame, as on a wire.
    const cap = openAfPacket({ ifname: vethB, netns: nsB, filter: false });
    try {
      const payload = pattern(10_000, 5);
      const seq = 0x7000_0000;
      const opts = tsOption(0x01020304, 0x0a0b0c0d);
      const id = 0x1234;
      const CWR = 0x80;
      const n = sendTcp(t, { src: BYWAY, dst: FAR, sport: 4444, dport: 5104, seq, ack: 77, flags: CWR | ACK | PSH | FIN, win: 1000, options: opts, payload, id }, SEGMENT);
      expect(n).toBe(14 + 20 + 32 + payload.length);
      const segs: Uint8Array[] = [];
      const want = Math.ceil(payload.length / SEGMENT);
      await (async () => {
        const end = Date.now() + 3000;
        while (segs.length < want && Date.now() < end) {
          cap.receive(0, 64, (f) => {
            const p = parseTcp(f);
            if (p && p.sport === 4444 && p.dport === 5104 && p.dst === FAR) segs.push(f.slice());
          });
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      expect(segs.length).toBe(want);
      segs.sort((x, y) => get32(x, 38) - get32(y, 38));
      const id0 = get16(segs[0]!, 18);
      segs.forEach((f, i) => {
        const p = parseTcp(f)!;
        const len = Math.min(SEGMENT, payload.length - i * SEGMENT);
        const first = i === 0;
        const last = i === want - 1;
        expect(p.seq).toBe(seq + i * SEGMENT);
        expect(p.ack).toBe(77);
        expect(p.end - p.data).toBe(len);
        expect(get16(f, 16)).toBe(20 + 32 + len);
        expect(p.end - 14).toBeLessThanOrEqual(1500);
        expect(checksum(f, 14, 34)).toBe(0);
        expect(checksum(f, p.l4, p.end, pseudoHeaderSum(BYWAY, FAR, 6, p.end - p.l4))).toBe(0);
        expect(get16(f, 18)).toBe((id0 + i) & 0xffff);
        expect(f[20]! & 0x40).toBe(0x40); // DF
        expect(Array.from(f.subarray(p.l4 + 20, p.data))).toEqual(Array.from(opts));
        expect(p.flags & ACK).toBe(ACK);
        expect(p.flags & CWR).toBe(first ? CWR : 0);
        expect(p.flags & (FIN | PSH)).toBe(last ? FIN | PSH : 0);
        expect(Array.from(f.subarray(p.data, p.end))).toEqual(Array.from(payload.subarray(i * SEGMENT, i * SEGMENT + len)));
      });
      expect(id0).toBe(id);
    } finally {
      cap.close();
    }
  });

  it('byway sends TSO frames to a local socket; a last frame smaller than its segment goes as a plain frame', async () => {
    const t = tap!;
    const data = pattern(200_000, 11);
    const { server, big, rxFlags } = await sendStream(t, nsA, KERNEL, 5102, data, 700);
    expect(server).toContain(`got ${data.length} ${createHash('sha256').update(data).digest('hex')}`);
    expect(big).toBeGreaterThanOrEqual(2);
    // The local kernel's answers leave their checksums partial (NEEDS_CSUM): all flagged.
    expect(rxFlags.trusted).toBeGreaterThan(0);
    expect(rxFlags.untrusted).toBe(0);
  }, 30_000);

  it('the kernel sends frames above the MTU with L4ChecksumValid and a partial checksum, bytes in order', async () => {
    const t = tap!;
    const N = 400_000;
    const port = 5103;
    const client = lab.spawnIn(nsA, process.execPath, [
      '-e',
      `const b = Buffer.alloc(${N}); for (let i = 0; i < b.length; i++) b[i] = (i * 131 + (i >>> 9) + 3) & 255;
       const s = require('net').connect(${port}, '10.78.1.2', () => s.end(b)); s.on('error', (e) => console.log(e.message));
       setTimeout(() => process.exit(0), 20000);`,
    ]);
    const data = pattern(N, 3);
    const iss = 0x20000000;
    let rcvNxt = 0;
    let peer = 0;
    let got = 0;
    let sawSyn = false;
    let big = 0;
    let bigTrusted = 0;
    let bigPartialOk = 0;
    let smallUntrusted = 0;
    let maxIp = 0;
    let mismatch = -1;
    let ack = false;
    const onFrame = (f: Uint8Array, flags: number): void => {
      const p = parseTcp(f);
      if (p === undefined || p.dport !== port || p.dst !== ip('10.78.1.2')) return;
      peer = p.sport;
      if (p.flags & SYN) {
        sawSyn = true;
        rcvNxt = (p.seq + 1) >>> 0;
        ack = true;
        return;
      }
      const len = p.end - p.data;
      maxIp = Math.max(maxIp, p.end - 14);
      if (p.end - 14 > 1500) {
        big++;
        if (flags & RxFlag.L4ChecksumValid) bigTrusted++;
        // A local sender's checksum is partial: the field holds the pseudo-header sum, length included.
        if (get16(f, p.l4 + 16) === fold(pseudoHeaderSum(p.src, p.dst, 6, p.end - p.l4))) bigPartialOk++;
        expect(checksum(f, 14, 34)).toBe(0);
      } else if (!(flags & RxFlag.L4ChecksumValid)) smallUntrusted++;
      if (len > 0 && p.seq === rcvNxt) {
        for (let i = 0; i < len && mismatch < 0; i++) if (f[p.data + i] !== data[got + i]) mismatch = got + i;
        got += len;
        rcvNxt = (rcvNxt + len) >>> 0;
        ack = true;
      }
      if (p.flags & FIN && p.seq + len === rcvNxt) {
        rcvNxt = (rcvNxt + 1) >>> 0;
        ack = true;
      }
    };
    const tick = (): void => {
      if (!ack) return;
      ack = false;
      const synAck = rcvNxt !== 0 && got === 0 && sawSyn;
      const mss = new Uint8Array([2, 4, 0x05, 0xb4]);
      sendTcp(t, {
        src: ip('10.78.1.2'),
        dst: KERNEL,
        sport: port,
        dport: peer,
        seq: synAck ? iss : (iss + 1) >>> 0,
        ack: rcvNxt,
        flags: synAck ? SYN | ACK : ACK,
        win: 65535,
        options: synAck ? mss : new Uint8Array(0),
        payload: new Uint8Array(0),
        id: 0,
      });
    };
    const done = await pump(t, onFrame, () => got >= N, 15_000, tick);
    expect(done, `received ${got} of ${N}, client: ${client.output()}`).toBe(true);
    expect(mismatch).toBe(-1);
    expect(big).toBeGreaterThan(0);
    expect(bigTrusted).toBe(big);
    expect(bigPartialOk).toBe(big);
    expect(maxIp).toBeLessThanOrEqual(65535);
    // Every frame from this local sender carries a partial checksum (NEEDS_CSUM), so all were flagged.
    expect(smallUntrusted).toBe(0);
  }, 30_000);

  it('an ICMP frame committed with a segment goes out as a plain frame', async () => {
    const t = tap!;
    const payload = pattern(300, 1);
    const frame = ethernet(t.kernelHwAddress, t.hwAddress!, 0x0800, icmpEchoPacket(BYWAY, KERNEL, 0x7171, 1, payload));
    const buf = t.txReserve(frame.length)!;
    buf.set(frame);
    t.txCommit(0, frame.length, 100);
    t.flush(0);
    let reply: Uint8Array | undefined;
    let replyFlags = -1;
    await pump(
      t,
      (f, flags) => {
        if (reply === undefined && echoReplyAt(f, 14, KERNEL, BYWAY, 0x7171, 1)) {
          reply = f.slice();
          replyFlags = flags;
        }
      },
      () => reply !== undefined,
      3000,
    );
    expect(reply).toBeDefined();
    expect(Array.from(echoReplyAt(reply!, 14, KERNEL, BYWAY, 0x7171, 1)!.payload)).toEqual(Array.from(payload));
    expect(echoReplyAt(reply!, 14, KERNEL, BYWAY, 0x7171, 1)!.icmpChecksumOk).toBe(true);
    expect(replyFlags).toBe(0); // ICMP: nothing for the driver to vouch for
  });
});
