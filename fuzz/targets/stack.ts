/**
 * Stateful targets over a live stack (lib/live.ts):
 * - `stack-rx`: the whole receive path. Stack A has a TCP listener with established connections (passive and
 *   active, one in CLOSE-WAIT), bound UDP sockets (a queueing one, an echo one, a connected one) and fragments
 *   in reassembly; it is fed arbitrary frames. Each record's tag says how to fix the frame up so it gets deep
 *   (see FIX_*), and how far to move the clock first.
 * - `tcp-states`: the TCP core in every RFC 9293 state, built by two stacks talking, then fed crafted segments
 *   (valid checksums, random flags / seq / ack / window / options / payload, seq and ack relative to the
 *   connection's window unless the tag says otherwise).
 * After every record: no throw, every oracle of invariants.ts, and every frame A sent is well-formed.
 */
import fc from 'fast-check';
import { read16, write16, write32, read32 } from '../../protocols/util/bytes.js';
import { TcpConnection } from '../../protocols/tcp/connection.js';
import { fixtureFrames } from '../lib/corpus.js';
import { arpArb, icmpArb, ipBytes, ipGenArb, tcpBytes, tcpGenArb, udpArb, u16, u32, type TcpGen } from '../lib/gen.js';
import { accountedBytes, checkStack, flatten, moved } from '../lib/invariants.js';
import { A_CAPS, IP_A, IP_B, MAC_A, MAC_B, World, attachEcho, serveEcho, type Track } from '../lib/live.js';
import { ETH_LEN, buildEthernet, buildIpv4, fixIpChecksum, fixL4Checksum, ipOffset, refPseudo, refSum, setIpAddrs, writeMac } from '../lib/packets.js';
import { decodeRecords, encodeRecords, type Rec } from '../lib/records.js';
import { check, type FuzzTarget, type Session } from '../lib/target.js';

const DELAYS = [0, 0, 1, 10, 200, 1000, 5000, 65_000];
export const FIX_L2 = 0x08;
export const FIX_L3 = 0x10;
export const FIX_IPSUM = 0x20;
export const FIX_L4SUM = 0x40;
export const FIX_TCPREL = 0x80;
export const FIX_ALL = FIX_L2 | FIX_L3 | FIX_IPSUM | FIX_L4SUM;

function int16(v: number): number {
  return (v << 16) >> 16;
}

/** Aim a TCP segment at a tracked connection: its ports, seq near RCV.NXT and ack near SND.NXT (int16 deltas). */
function aimTcp(b: Uint8Array, t: number, tracks: readonly Track[]): void {
  if (tracks.length === 0 || b.length < t + 20) return;
  // The connection these ports already name (a handshake's second segment), else one picked by the source port.
  const tr = tracks.find((x) => x.remotePort === read16(b, t) && x.localPort === read16(b, t + 2)) ?? tracks[read16(b, t) % tracks.length]!;
  write16(b, t, tr.remotePort);
  write16(b, t + 2, tr.localPort);
  write32(b, t + 4, (tr.rcvNxt + int16(read32(b, t + 4))) >>> 0);
  write32(b, t + 8, (tr.sndNxt + int16(read32(b, t + 8))) >>> 0);
}

/** Apply the fix-ups a record's tag asks for to a copy of its frame. */
export function fixFrame(data: Uint8Array, tag: number, tracks: readonly Track[]): Uint8Array {
  const b = data.slice();
  if (tag & FIX_L2) {
    if (b.length >= 6 && (b[0]! & 1) === 0) writeMac(b, 0, MAC_A); // keep broadcast/multicast destinations
    writeMac(b, 6, MAC_B);
  }
  const o = ipOffset(b);
  if (o < 0 || b.length < o + 20) return b;
  if (tag & FIX_L3) setIpAddrs(b, o, IP_B, b[o + 16] === 0xff || read32(b, o + 16) === 0x0a0000ff ? read32(b, o + 16) : IP_A);
  const ihl = (b[o]! & 0x0f) * 4;
  if (tag & FIX_TCPREL && b[o + 9] === 6 && ihl >= 20) aimTcp(b, o + ihl, tracks);
  if (tag & FIX_L4SUM) fixL4Checksum(b, o);
  if (tag & FIX_IPSUM) fixIpChecksum(b, o);
  return b;
}

/** The receive-path world: see the module comment. Deterministic. */
export function buildRxWorld(): { w: World; keep: Set<TcpConnection> } {
  const w = new World({ configA: A_CAPS });
  const a = w.a;
  const b = w.b;
  const keep = serveEcho(w, 80, 4);
  // Port 81: reads but never closes, so a peer's FIN leaves the connection in CLOSE-WAIT.
  const l81 = a.tcp!.listen(0, 81, 4);
  const sink = new Uint8Array(4096);
  l81.onConnection = (c) => {
    keep.add(c);
    c.onReadable = () => void c.read(w.now, sink);
    c.onClose = () => keep.delete(c);
  };
  const q = a.udp.createSocket();
  q.bind(0, 53); // no handler: datagrams queue up to recvBufferBytes
  const echo = a.udp.createSocket();
  echo.bind(0, 7);
  echo.onMessage = (data, srcIp, srcPort) => {
    try {
      echo.send(w.now, data.subarray(0, 512), srcIp, srcPort);
    } catch {
      // EACCES (broadcast), ENETUNREACH, ENOBUFS: the application's problem, not a stack failure
    }
  };
  const conn = a.udp.createSocket();
  conn.connect(IP_B, 9000);
  conn.send(w.now, Uint8Array.of(1, 2, 3));
  // B's side: a server on 8080 that A connects to, and two clients of A's port 80 and one of 81.
  const lb = b.tcp!.listen(0, 8080, 16);
  const bconns: TcpConnection[] = [];
  lb.onConnection = (c) => {
    bconns.push(c);
    c.onReadable = () => void c.read(w.now, sink);
  };
  const active = a.tcp!.connect(w.now, IP_B, 8080);
  keep.add(active);
  attachEcho(w, active, new Uint8Array(4096));
  const c1 = b.tcp!.connect(w.now, IP_A, 80);
  const c2 = b.tcp!.connect(w.now, IP_A, 80);
  const c3 = b.tcp!.connect(w.now, IP_A, 81);
  for (const c of [c1, c2, c3]) c.onReadable = () => void c.read(w.now, sink);
  w.run(50);
  c1.send(w.now, new Uint8Array(3000).fill(0x61));
  c2.send(w.now, new Uint8Array(100).fill(0x62));
  active.send(w.now, new Uint8Array(2000).fill(0x63));
  w.run(200);
  c3.shutdown(w.now); // A's port-81 connection goes to CLOSE-WAIT
  w.run(200);
  w.freeze();
  // Leave data in flight from A (unacked, B is frozen) and two datagrams in reassembly.
  active.send(w.now, new Uint8Array(1000).fill(0x64));
  for (const ident of [0x1234, 0x1235]) {
    const frag = buildIpv4({ src: IP_B, dst: IP_A, proto: 17, ident, flagsFrag: 0x2000, payload: new Uint8Array(1024).fill(ident & 0xff) });
    w.inject(buildEthernet(MAC_A, MAC_B, 0x0800, frag));
  }
  return { w, keep };
}

/** The signature of an input: which counters moved and which TCP states exist afterwards. */
function signature(before: Map<string, number>, w: World): string {
  const states = new Set<string>();
  for (const c of w.a.tcp!.connections()) states.add(c.state);
  return `${moved(before, flatten(w.a.stats)).sort().join(',')}|${[...states].sort().join(',')}`;
}

function feedRecords(w: World, recs: readonly Rec[]): void {
  for (const r of recs) {
    w.advance(DELAYS[r.tag & 7]!);
    const tracks = [...w.tracks.values()];
    const frame = fixFrame(r.data, r.tag, tracks);
    w.inject(frame);
    check(w.problem === undefined, () => w.problem!);
    checkStack(w.a, w.now);
    checkEchoes(frame, w.lastOutputs);
  }
}

/** The well-formed, unfragmented IPv4 packet in `frame` addressed from IP_B to IP_A, with its L4 bytes. */
function unicastToA(frame: Uint8Array): { proto: number; l4: Uint8Array } | undefined {
  const o = ipOffset(frame);
  if (o !== ETH_LEN || frame.length < o + 20 || frame[o] !== 0x45) return undefined; // untagged: A has no VLAN
  const total = read16(frame, o + 2);
  if (total < 20 || o + total > frame.length || (read16(frame, o + 6) & 0xbfff) !== 0) return undefined;
  if (read32(frame, o + 12) !== IP_B || read32(frame, o + 16) !== IP_A || refSum(frame, o, o + 20) !== 0xffff) return undefined;
  if (frame[0]! & 1 || read16(frame, 0) !== 0x0200 || read32(frame, 2) !== 0x00000001) return undefined; // to A's MAC
  return { proto: frame[o + 9]!, l4: frame.subarray(o + 20, o + total) };
}

/**
 * Data integrity on the two echo paths: an ICMP echo request (RFC 792) is answered by at most one reply, with the
 * same identifier, sequence number and data; a datagram to the UDP echo socket comes back at most once, with the
 * same payload (its first 512 bytes), from port 7 to the sender's port.
 */
export function checkEchoes(frame: Uint8Array, outputs: readonly Uint8Array[]): void {
  const req = unicastToA(frame);
  if (req === undefined) return;
  const replies = outputs.map((f) => ({ f, o: ipOffset(f) })).filter(({ f, o }) => o >= 0 && f[o + 9] === req.proto && read32(f, o + 16) === IP_B && (read16(f, o + 6) & 0x3fff) === 0);
  if (req.proto === 1 && req.l4.length >= 8 && req.l4[0] === 8 && req.l4[1] === 0 && refSum(req.l4, 0, req.l4.length) === 0xffff) {
    // None is fine when the reply waits for ARP (B's entry expired) or was dropped there; two never are.
    const echo = replies.filter(({ f, o }) => f[o + 20] === 0);
    check(echo.length <= 1, () => `an echo request got ${echo.length} echo replies`);
    if (echo.length === 0) return;
    const { f, o } = echo[0]!;
    const body = f.subarray(o + 20, o + read16(f, o + 2));
    check(body.length === req.l4.length && read32(body, 4) === read32(req.l4, 4), 'echo reply length, identifier or sequence differs from the request');
    for (let i = 8; i < body.length; i++) check(body[i] === req.l4[i], () => `echo reply data differs at byte ${i}`);
  }
  if (req.proto === 17 && req.l4.length >= 8 && read16(req.l4, 2) === 7 && read16(req.l4, 4) === req.l4.length) {
    const u = req.l4;
    const sum = read16(u, 6) === 0 || refSum(u, 0, u.length, refPseudo(IP_B, IP_A, 17, u.length)) === 0xffff;
    if (!sum || read16(u, 0) === 0) return;
    const echo = replies.filter(({ f, o }) => read16(f, o + 20) === 7 && read16(f, o + 22) === read16(u, 0));
    check(echo.length <= 1, () => `a datagram to the UDP echo port got ${echo.length} replies`);
    if (echo.length === 0) return;
    const { f, o } = echo[0]!;
    const got = f.subarray(o + 28, o + read16(f, o + 2));
    const want = u.subarray(8, 8 + 512);
    check(got.length === want.length, () => `UDP echo of ${want.length} bytes came back as ${got.length}`);
    for (let i = 0; i < got.length; i++) check(got[i] === want[i], () => `UDP echo differs at byte ${i}`);
  }
}

class RxSession implements Session {
  private readonly w: World;
  constructor() {
    this.w = buildRxWorld().w;
    check(this.w.problem === undefined, () => `during setup: ${this.w.problem}`);
  }
  feed(input: Uint8Array): string {
    const before = flatten(this.w.a.stats);
    feedRecords(this.w, decodeRecords(input));
    return signature(before, this.w);
  }
  accountedBytes(): number {
    return accountedBytes(this.w.a);
  }
}

/** Wrap an L3 packet from B in an Ethernet frame to A; tag asks for every fix-up (and maybe TCP aiming). */
const l2 = (p: Uint8Array): Uint8Array => buildEthernet(MAC_A, MAC_B, 0x0800, p);
const toA = fc.constant<[number, number]>([IP_B, IP_A]);
const frameTag = (tcpRel: boolean) => fc.integer({ min: 0, max: 7 }).map((d) => d | FIX_ALL | (tcpRel ? FIX_TCPREL : 0));
const smallDelta = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -3000, max: 3000 }) }, { weight: 1, arbitrary: fc.integer({ min: -32768, max: 32767 }) });

/** A TCP segment whose seq/ack low 16 bits are small signed deltas (aimTcp adds them to RCV.NXT/SND.NXT). */
const aimedTcpArb: fc.Arbitrary<TcpGen> = fc.tuple(tcpGenArb(fc.tuple(fc.nat(7), fc.constantFrom(80, 81))), smallDelta, smallDelta).map(([g, s, a]) => ({ ...g, seq: s & 0xffff, ack: a & 0xffff }));

const rxFrameArb: fc.Arbitrary<Rec> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(aimedTcpArb, ipGenArb(toA, fc.constant(6)), frameTag(true)).map(([t, g, tag]) => ({ tag, data: l2(ipBytes(g, tcpBytes(t, IP_B, IP_A))) })) },
  { weight: 1, arbitrary: fc.tuple(tcpGenArb(fc.tuple(u16, fc.constantFrom(80, 81, 8080, 22))), ipGenArb(toA, fc.constant(6)), frameTag(false)).map(([t, g, tag]) => ({ tag, data: l2(ipBytes(g, tcpBytes(t, IP_B, IP_A))) })) },
  { weight: 2, arbitrary: fc.tuple(udpArb(fc.tuple(fc.constantFrom(9000, 53, 1234), fc.constantFrom(53, 7, 5000, 9, 49152)), IP_B, IP_A), ipGenArb(toA, fc.constant(17)), frameTag(false)).map(([u, g, tag]) => ({ tag, data: l2(ipBytes(g, u)) })) },
  {
    weight: 2,
    arbitrary: fc.tuple(
      icmpArb(
        fc.tuple(ipGenArb(fc.constant<[number, number]>([IP_A, IP_B]), fc.constantFrom(6, 17, 1)), fc.tuple(fc.constantFrom(80, 81, 7, 5000, 53), fc.constantFrom(9000, 8080, 1234)), u32).map(([g, [sp, dp], x]) => {
          const l4 = new Uint8Array(8);
          write16(l4, 0, sp);
          write16(l4, 2, dp);
          write32(l4, 4, x);
          return ipBytes({ ...g, wrong: undefined }, l4);
        }),
      ),
      ipGenArb(toA, fc.constant(1)),
      frameTag(false),
    ).map(([m, g, tag]) => ({ tag, data: l2(ipBytes(g, m)) })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(arpArb(fc.oneof(fc.constant(IP_B), fc.integer({ min: 0x0a000000, max: 0x0a0000ff }), u32), fc.oneof(fc.constant(IP_A), u32)), fc.integer({ min: 0, max: 7 }), fc.boolean()).map(([arp, d, bcast]) => ({
      tag: d | FIX_L2,
      data: buildEthernet(bcast ? new Uint8Array(6).fill(0xff) : MAC_A, MAC_B, 0x0806, arp),
    })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 0x1234, max: 0x1237 }), fc.nat(20), fc.boolean(), fc.integer({ min: 1, max: 1400 }), frameTag(false)).map(([ident, off, mf, n, tag]) => ({
      tag: tag & ~FIX_L4SUM,
      data: l2(buildIpv4({ src: IP_B, dst: IP_A, proto: 17, ident, flagsFrag: (mf ? 0x2000 : 0) | (off * 128), payload: new Uint8Array(mf ? n & ~7 : n).fill(ident & 0xff) })),
    })),
  },
  { weight: 1, arbitrary: fc.tuple(fc.uint8Array({ maxLength: 120 }), u8tag()).map(([data, tag]) => ({ tag, data })) },
);

/**
 * Floods: up to 40 frames of one kind, to push each cap: fragments of distinct datagrams (reassembly), big
 * datagrams to the queueing UDP socket, ARP requests from many senders (neighbour table), SYNs from many ports
 * (SYN queue, then cookies), and whole handshakes (SYN, then an ACK aimed at the SYN-ACK: connection cap).
 */
const floodArb: fc.Arbitrary<Rec[]> = fc.tuple(fc.constantFrom('frag', 'udp', 'arp', 'syn', 'handshake'), fc.integer({ min: 8, max: 40 }), fc.nat(0xffff), fc.integer({ min: 0, max: 3 })).map(([kind, n, base, d]) => {
  const recs: Rec[] = [];
  for (let i = 0; i < n; i++) {
    const port = 1024 + ((base + i * 7) & 0x7fff);
    if (kind === 'frag') {
      const payload = new Uint8Array(1480).fill(i);
      recs.push({ tag: d | FIX_ALL, data: l2(buildIpv4({ src: IP_B, dst: IP_A, proto: 17, ident: (base + i) & 0xffff, flagsFrag: 0x2000 | (i % 3) * 185, payload })) });
    } else if (kind === 'udp') {
      const u = new Uint8Array(8 + 1400);
      write16(u, 0, port);
      write16(u, 2, 53);
      write16(u, 4, u.length);
      recs.push({ tag: d | FIX_ALL, data: l2(buildIpv4({ src: IP_B, dst: IP_A, proto: 17, payload: u })) });
    } else if (kind === 'arp') {
      const arp = new Uint8Array(28);
      arp.set([0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0x10, 0, (i >>> 8) & 0xff, i & 0xff], 0);
      write32(arp, 14, (0x0a000000 | (3 + ((base + i) % 250))) >>> 0);
      write32(arp, 24, IP_A);
      recs.push({ tag: d | FIX_L2, data: buildEthernet(new Uint8Array(6).fill(0xff), MAC_B, 0x0806, arp) });
    } else {
      const syn = { srcPort: port, dstPort: 80, seq: base * 65536 + i, ack: 0, flags: 0x02, window: 65535, urgent: 0, options: Uint8Array.of(2, 4, 5, 0xb4, 4, 2), payload: new Uint8Array(0), wrong: undefined, wrongValue: 0 };
      recs.push({ tag: d | FIX_ALL, data: l2(buildIpv4({ src: IP_B, dst: IP_A, proto: 6, payload: tcpBytes(syn, IP_B, IP_A) })) });
      if (kind === 'handshake') {
        // seq delta +1 from the tracked RCV.NXT is wrong by one on purpose half the time; ack delta 0 = SND.NXT.
        const ack = { ...syn, flags: 0x10, seq: i & 1, ack: 0, options: new Uint8Array(0), payload: new Uint8Array(i % 5 === 0 ? 100 : 0) };
        recs.push({ tag: FIX_ALL | FIX_TCPREL, data: l2(buildIpv4({ src: IP_B, dst: IP_A, proto: 6, payload: tcpBytes(ack, IP_B, IP_A) })) });
      }
    }
  }
  return recs;
});

function u8tag(): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: 255 });
}

function capturedSeeds(): Rec[] {
  // Frames byway itself sent while setting up (SYN-ACKs, data, ACKs, ARP, UDP), re-aimed at A from B.
  const frames: Uint8Array[] = [];
  const w = new World({ configA: A_CAPS });
  const orig = (w as unknown as { observe: (f: Uint8Array) => void }).observe.bind(w);
  (w as unknown as { observe: (f: Uint8Array) => void }).observe = (f) => {
    if (frames.length < 40) frames.push(f.slice());
    orig(f);
  };
  serveEcho(w, 80, 4);
  const c = w.b.tcp!.connect(w.now, IP_A, 80);
  w.run(20);
  c.send(w.now, new Uint8Array(2000).fill(0x41));
  w.run(50);
  c.shutdown(w.now);
  w.run(50);
  return frames.map((data) => {
    const o = ipOffset(data);
    const isTcp = o >= 0 && data[o + 9] === 6;
    return { tag: FIX_ALL | (isTcp ? FIX_TCPREL : 0), data };
  });
}

export const stackRxTarget: FuzzTarget = {
  name: 'stack-rx',
  description: 'NetStack receive path (Ethernet/ARP/IPv4/reassembly/ICMP/UDP/TCP) with live sockets and connections',
  format: 'records',
  maxLen: 1518,
  maxRecords: 48,
  seeds: () => {
    const fixtures = fixtureFrames().map((f) => ({ tag: FIX_ALL, data: f.frame }));
    const captured = capturedSeeds();
    return [...fixtures.map((r) => encodeRecords([r])), ...captured.map((r) => encodeRecords([r])), encodeRecords(fixtures), encodeRecords(captured)];
  },
  generator: () =>
    fc.oneof(
      { weight: 4, arbitrary: fc.array(rxFrameArb, { minLength: 1, maxLength: 8 }) },
      { weight: 1, arbitrary: floodArb },
    ).map((recs) => encodeRecords(recs)),
  run(input) {
    return new RxSession().feed(input);
  },
  session: () => new RxSession(),
  sessionShare: 0.8,
};

// ---------------------------------------------------------------------------------------------------------------
// tcp-states

export const SCENARIOS = [
  'LISTEN',
  'SYN-SENT',
  'SYN-RECEIVED',
  'ESTABLISHED',
  'ESTABLISHED-active-inflight',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'CLOSE-WAIT',
  'CLOSING',
  'LAST-ACK',
  'TIME-WAIT',
] as const;

/** Build a world whose A side has one connection in the scenario's state (LISTEN: only a listener). */
export function buildStateWorld(index: number): { w: World; conn: TcpConnection | undefined; scenario: string } {
  const scenario = SCENARIOS[index % SCENARIOS.length]!;
  const w = new World({ configA: A_CAPS });
  const a = w.a;
  const b = w.b;
  // Static neighbours: the handshake starts at once, and what A sends is never parked waiting for ARP.
  a.neighbours.addStatic(IP_B, MAC_B);
  b.neighbours.addStatic(IP_A, MAC_A);
  const sink = new Uint8Array(4096);
  let conn: TcpConnection | undefined;
  const la = a.tcp!.listen(0, 80, 4);
  la.onConnection = (c) => {
    conn = c;
    c.onReadable = () => void c.read(w.now, sink);
  };
  const lb = b.tcp!.listen(0, 8080, 4);
  let peer: TcpConnection | undefined;
  lb.onConnection = (c) => {
    peer = c;
    c.onReadable = () => void c.read(w.now, sink);
  };
  const passive = (): TcpConnection => {
    const c = b.tcp!.connect(w.now, IP_A, 80);
    c.onReadable = () => void c.read(w.now, sink);
    peer = c;
    return c;
  };
  switch (scenario) {
    case 'LISTEN':
      w.freeze();
      break;
    case 'SYN-SENT':
      w.freeze();
      conn = a.tcp!.connect(w.now, IP_B, 8080);
      w.drain();
      break;
    case 'SYN-RECEIVED': {
      passive();
      b.poll(w.now); // B sends the SYN
      w.freeze();
      a.poll(w.now); // A answers SYN-ACK and waits
      w.drain();
      for (const c of a.tcp!.connections()) if (c instanceof TcpConnection) conn = c;
      break;
    }
    case 'ESTABLISHED-active-inflight': {
      conn = a.tcp!.connect(w.now, IP_B, 8080);
      w.run(50);
      peer!.send(w.now, new Uint8Array(1500).fill(1));
      w.run(50);
      w.freeze();
      conn.send(w.now, new Uint8Array(6000).fill(2));
      w.drain();
      break;
    }
    default: {
      passive();
      w.run(50);
      peer!.send(w.now, new Uint8Array(2500).fill(3));
      conn?.send(w.now, new Uint8Array(700).fill(4));
      w.run(100);
      if (scenario === 'FIN-WAIT-1') {
        w.freeze();
        conn?.shutdown(w.now);
      } else if (scenario === 'FIN-WAIT-2') {
        conn?.shutdown(w.now);
        w.run(100);
        w.freeze();
      } else if (scenario === 'CLOSE-WAIT') {
        peer!.shutdown(w.now);
        w.run(100);
        w.freeze();
      } else if (scenario === 'CLOSING') {
        conn?.shutdown(w.now); // A's FIN goes to B's queue
        peer!.shutdown(w.now); // B's FIN (not acking A's) goes to A's queue
        w.freeze(); // B never reads A's FIN
        a.poll(w.now);
      } else if (scenario === 'LAST-ACK') {
        peer!.shutdown(w.now);
        w.run(100);
        w.freeze();
        conn?.shutdown(w.now);
      } else if (scenario === 'TIME-WAIT') {
        conn?.shutdown(w.now);
        w.run(100);
        peer!.shutdown(w.now);
        w.run(100);
        w.freeze();
      } else {
        w.freeze();
      }
      w.drain();
    }
  }
  return { w, conn, scenario };
}

const SYNCHRONIZED = new Set(['ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSE-WAIT', 'CLOSING', 'LAST-ACK']);

/**
 * RFC 5961 (blind reset and SYN attacks): in a synchronized state, a RST resets the connection only when SEG.SEQ
 * is exactly RCV.NXT (section 3.2; otherwise a challenge ACK), and a SYN never does (section 4.2). If `seg` is a
 * RST or SYN (with a valid checksum) for a synchronized connection, returns what the oracle needs to check after
 * it is handled. RCV.NXT is read from the connection (a private field: an oracle may look; if the field is ever
 * renamed, the oracle quietly stops applying rather than lying).
 */
function blindAttackVictim(w: World, seg: Uint8Array): { conn: TcpConnection; state: string; rcvNxt: number; exact: boolean; what: string } | undefined {
  if (seg.length < 20) return undefined;
  const flags = seg[13]!;
  const rst = (flags & 0x04) !== 0;
  const syn = (flags & 0x02) !== 0;
  if (!rst && !syn) return undefined;
  for (const conn of w.a.tcp!.connections()) {
    if (!(conn instanceof TcpConnection)) continue; // a TIME-WAIT record: not synchronized
    if (conn.remotePort !== read16(seg, 0) || conn.localPort !== read16(seg, 2) || !SYNCHRONIZED.has(conn.state)) continue;
    const rcvNxt = (conn as unknown as { rcvNxt?: unknown }).rcvNxt;
    if (typeof rcvNxt !== 'number') return undefined;
    const exact = rst && read32(seg, 4) === rcvNxt >>> 0;
    return { conn, state: conn.state, rcvNxt, exact, what: rst ? 'RST' : 'SYN' };
  }
  return undefined;
}

export const TCP_RAW_PORTS = 0x08;
export const TCP_ABS_SEQ = 0x10;
export const TCP_ABS_ACK = 0x20;
export const TCP_BAD_SUM = 0x40;

export const tcpStatesTarget: FuzzTarget = {
  name: 'tcp-states',
  description: 'TCP core in each RFC 9293 state (built by two stacks), fed crafted segments with valid checksums',
  format: 'records',
  maxLen: 1460,
  maxRecords: 10,
  seeds: () => {
    const seeds: Uint8Array[] = [];
    for (let i = 0; i < SCENARIOS.length; i++) {
      // One plain ACK, one data segment, one FIN, one RST, one SYN, all aimed at the window.
      const segs = [0x10, 0x18, 0x11, 0x04, 0x02, 0x12].map((flags, k) => ({
        tag: k === 0 ? 0 : 2,
        data: tcpBytes({ srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags, window: 65535, urgent: 0, options: new Uint8Array(0), payload: flags === 0x18 ? new Uint8Array(100).fill(7) : new Uint8Array(0), wrong: undefined, wrongValue: 0 }, IP_B, IP_A),
      }));
      seeds.push(encodeRecords([{ tag: i, data: new Uint8Array(0) }, ...segs]));
    }
    return seeds;
  },
  generator: () =>
    fc.tuple(
      fc.nat(SCENARIOS.length - 1),
      fc.array(
        fc.tuple(fc.oneof({ weight: 6, arbitrary: aimedTcpArb }, { weight: 1, arbitrary: tcpGenArb() }), fc.integer({ min: 0, max: 7 }), fc.nat(15)).map(([g, d, mode]) => ({
          tag: d | (mode === 0 ? TCP_ABS_SEQ | TCP_ABS_ACK : mode === 1 ? TCP_RAW_PORTS : mode === 2 ? TCP_BAD_SUM : 0),
          data: tcpBytes(g, IP_B, IP_A),
        })),
        { minLength: 1, maxLength: 8 },
      ),
    ).map(([s, segs]) => encodeRecords([{ tag: s, data: new Uint8Array(0) }, ...segs])),
  run(input) {
    const recs = decodeRecords(input);
    const { w, scenario } = buildStateWorld(recs[0]?.tag ?? 3);
    check(w.problem === undefined, () => `setup of ${scenario}: ${w.problem}`);
    checkStack(w.a, w.now);
    const before = flatten(w.a.stats);
    for (const r of recs.slice(1)) {
      w.advance(DELAYS[r.tag & 7]!);
      const seg = r.data.slice();
      if (seg.length >= 20) {
        const tracks = [...w.tracks.values()];
        const tr = tracks.length > 0 ? tracks[tracks.length - 1]! : undefined;
        if (!(r.tag & TCP_RAW_PORTS)) {
          write16(seg, 0, tr?.remotePort ?? read16(seg, 0));
          write16(seg, 2, tr?.localPort ?? 80);
        }
        if (tr !== undefined && !(r.tag & TCP_ABS_SEQ)) write32(seg, 4, (tr.rcvNxt + int16(read32(seg, 4))) >>> 0);
        if (tr !== undefined && !(r.tag & TCP_ABS_ACK)) write32(seg, 8, (tr.sndNxt + int16(read32(seg, 8))) >>> 0);
      }
      const ip = buildIpv4({ src: IP_B, dst: IP_A, proto: 6, payload: seg, flagsFrag: 0x4000 });
      if (!(r.tag & TCP_BAD_SUM)) fixL4Checksum(ip, 0);
      const victim = blindAttackVictim(w, seg);
      w.inject(buildEthernet(MAC_A, MAC_B, 0x0800, ip));
      check(w.problem === undefined, () => w.problem!);
      checkStack(w.a, w.now);
      if (victim !== undefined) {
        check(victim.conn.state !== 'CLOSED' || victim.exact, () => `RFC 5961: a ${victim.what} with SEG.SEQ ${read32(seg, 4)} != RCV.NXT ${victim.rcvNxt} reset a connection in ${victim.state}`);
      }
    }
    const states = [...w.a.tcp!.connections()].map((c) => c.state).sort().join(',');
    return `${scenario}>${states}|${moved(before, flatten(w.a.tcp!.stats)).sort().join(',')}`;
  },
};

export { ETH_LEN };
