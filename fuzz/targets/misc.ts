/**
 * Targets for the text parsers of protocols/ipv4/address.ts (and parseMac), the IPv4 reassembly core, and
 * readPcap.
 */
import fc from 'fast-check';
import { cidrContains, directedBroadcast, formatIpv4, networkOf, parseCidr, parseIpv4, prefixMask } from '../../protocols/ipv4/address.js';
import { formatMac, parseMac } from '../../protocols/ethernet/wire.js';
import { Ipv4Packet } from '../../protocols/ipv4/wire.js';
import { Reassembler } from '../../protocols/ipv4/reassembly.js';
import { read16 } from '../../protocols/util/bytes.js';
import { BywayError } from '../../protocols/util/errors.js';
import { readPcap } from '../../drivers/middleware/pcap-reader.js';
import { pcapFileHeader, pcapRecord } from '../../drivers/middleware/pcap.js';
import { fixtureFrames, fixtureIpv4 } from '../lib/corpus.js';
import { buildIpv4 } from '../lib/packets.js';
import { decodeRecords, encodeRecords, type Rec } from '../lib/records.js';
import { check, type FuzzTarget } from '../lib/target.js';
import { u16, u32 } from '../lib/gen.js';

const latin1 = new TextDecoder('latin1');
const enc = new TextEncoder();

export const addressTarget: FuzzTarget = {
  name: 'address',
  description: 'parseIpv4 / parseCidr / parseMac on any text: strict, and format(parse(s)) === s',
  format: 'bytes',
  maxLen: 64,
  seeds: () => ['10.0.0.1', '255.255.255.255', '0.0.0.0/0', '192.168.1.0/24', '010.1.1.1', '1.2.3.4/33', '02:00:00:00:00:01', 'AA-bb-CC-dd-EE-ff', '1..2.3', ' 1.2.3.4'].map((s) => enc.encode(s)),
  generator: () =>
    fc.array(fc.constantFrom('0', '1', '2', '5', '9', '25', '255', '256', '00', '.', '/', ':', '-', 'a', 'F', ' ', '+', 'e', 'x', '\u0660', '3'), { maxLength: 24 }).map((parts) => enc.encode(parts.join(''))),
  run(input) {
    const s = latin1.decode(input);
    const a = parseIpv4(s);
    if (a !== undefined) {
      check(Number.isInteger(a) && a >= 0 && a <= 0xffffffff, `parseIpv4 gave ${a}`);
      check(formatIpv4(a) === s, `formatIpv4(parseIpv4(${JSON.stringify(s)})) = ${formatIpv4(a)}`);
    }
    const c = parseCidr(s);
    if (c !== undefined) {
      check(Number.isInteger(c.prefixLen) && c.prefixLen >= 0 && c.prefixLen <= 32, `prefix length ${c.prefixLen}`);
      const text = s.includes('/') ? `${formatIpv4(c.address)}/${c.prefixLen}` : formatIpv4(c.address);
      check(text === s, `parseCidr(${JSON.stringify(s)}) formats back as ${text}`);
      check(cidrContains(c, c.address) && cidrContains(c, networkOf(c)), 'a prefix does not contain its own address');
      const b = directedBroadcast(c);
      check(b === undefined ? c.prefixLen >= 31 : cidrContains(c, b), 'directed broadcast outside the prefix');
      check(((prefixMask(c.prefixLen) & networkOf(c)) >>> 0) === networkOf(c), 'network has host bits');
    }
    const m = parseMac(s);
    if (m !== undefined) {
      check(m.length === 6, 'MAC length');
      check(formatMac(m) === s.toLowerCase().replace(/-/g, ':'), `formatMac(parseMac(${JSON.stringify(s)}))`);
    }
    return `${a !== undefined ? 'a' : ''}${c !== undefined ? 'c' : ''}${m !== undefined ? 'm' : ''}`;
  },
};

const R_OPTS = { maxBytes: 16 * 1024, maxDatagrams: 8, maxFragments: 16, timeoutMs: 1000 };
const DELAYS = [0, 0, 0, 1, 10, 100, 500, 1001];

/**
 * The reassembler fed a sequence of IPv4 packets (records; tag & 7 picks a clock step). Oracles: memory and
 * datagram counts within their caps after every fragment; a completed datagram is a well-formed unfragmented
 * packet of at most 65535 bytes holding the completing fragment's bytes at its offset; pollAt is finite; and
 * after the time-out everything is released (memory back to 0: no accounting leak).
 */
export const reassemblyTarget: FuzzTarget = {
  name: 'reassembly',
  description: 'Reassembler (IPv4 fragments): caps, well-formed output, memory accounting returns to 0',
  format: 'records',
  maxLen: 1500,
  maxRecords: 48,
  seeds: () => {
    const frags = fixtureIpv4().filter((p) => p.length >= 20 && (read16(p, 6) & 0x3fff) !== 0);
    return [encodeRecords(frags.map((data) => ({ tag: 0, data }))), encodeRecords([...frags].reverse().map((data) => ({ tag: 0, data })))];
  },
  generator: () =>
    fc.record({
      datagrams: fc.array(
        fc.record({ ident: fc.integer({ min: 0, max: 3 }), size: fc.integer({ min: 1, max: 5000 }), chunk: fc.integer({ min: 1, max: 200 }), fill: fc.integer({ min: 0, max: 255 }), proto: fc.constantFrom(1, 6, 17) }),
        { minLength: 1, maxLength: 3 },
      ),
      order: fc.array(fc.nat(), { maxLength: 64 }),
      dups: fc.array(fc.nat(), { maxLength: 4 }),
      corrupt: fc.option(fc.tuple(fc.nat(), fc.constantFrom('offset', 'len', 'mf', 'byte') as fc.Arbitrary<'offset' | 'len' | 'mf' | 'byte'>, u16), { nil: undefined }),
      delays: fc.array(fc.integer({ min: 0, max: 7 }), { maxLength: 64 }),
    }).map(({ datagrams, order, dups, corrupt, delays }) => {
      const frags: Uint8Array[] = [];
      for (const d of datagrams) {
        const step = d.chunk * 8;
        for (let off = 0; off < d.size; off += step) {
          const n = Math.min(step, d.size - off);
          const more = off + n < d.size;
          frags.push(buildIpv4({ src: 0x0a000002, dst: 0x0a000001, proto: d.proto, ident: d.ident, flagsFrag: (more ? 0x2000 : 0) | (off >>> 3), payload: new Uint8Array(n).fill(d.fill) }));
        }
      }
      for (let i = frags.length - 1; i > 0; i--) {
        const j = (order[i % Math.max(order.length, 1)] ?? 0) % (i + 1);
        [frags[i], frags[j]] = [frags[j]!, frags[i]!];
      }
      for (const d of dups) frags.push(frags[d % frags.length]!);
      if (corrupt !== undefined) {
        const [i, what, v] = corrupt;
        const f = frags[i % frags.length]!.slice();
        if (what === 'offset') f[7] = v & 0xff;
        else if (what === 'len') f[3] = v & 0xff;
        else if (what === 'mf') f[6] = f[6]! ^ 0x20;
        else if (f.length > 20) f[20 + (v % (f.length - 20))] ^= 0xff;
        frags[i % frags.length] = f;
      }
      return encodeRecords(frags.map((data, i) => ({ tag: delays[i] ?? 0, data })));
    }),
  run(input) {
    const r = new Reassembler(R_OPTS);
    let now = 1000;
    let done = 0;
    for (const rec of decodeRecords(input)) {
      now += DELAYS[rec.tag & 7]!;
      r.poll(now);
      const p = Ipv4Packet.checked(rec.data);
      if (p === undefined || !p.isFragment) continue;
      const out = r.input(now, p);
      check(r.memory >= 0 && r.memory <= R_OPTS.maxBytes, `reassembly memory ${r.memory} outside [0, ${R_OPTS.maxBytes}]`);
      check(r.inProgress <= R_OPTS.maxDatagrams, `${r.inProgress} datagrams in progress`);
      const at = r.pollAt();
      check(at === undefined || Number.isFinite(at), `pollAt ${at}`);
      if (out !== undefined) {
        done++;
        check(Ipv4Packet.check(out) === 'ok', `reassembled datagram fails check: ${Ipv4Packet.check(out)}`);
        const q = Ipv4Packet.checked(out)!;
        check(q.totalLen === out.length && out.length <= 65535, 'reassembled total length');
        check(!q.isFragment, 'reassembled datagram still marked as a fragment');
        check(q.src === p.src && q.dst === p.dst && q.protocol === p.protocol && q.ident === p.ident, 'reassembled header is not of this datagram');
        const at8 = q.headerLen + p.fragmentOffset;
        for (let i = 0; i < p.payload.length; i++) {
          if (out[at8 + i] !== p.payload[i]) throw new Error(`reassembled datagram lacks the completing fragment's byte at ${p.fragmentOffset + i}`);
        }
      }
    }
    r.poll(now + R_OPTS.timeoutMs + 1);
    check(r.inProgress === 0 && r.memory === 0, `after the time-out: ${r.inProgress} datagrams, ${r.memory} bytes still charged`);
    return `d${Math.min(done, 3)}s${Object.entries(r.stats).filter(([, v]) => v > 0).map(([k]) => k[0]).join('')}`;
  },
};

function pcapOf(frames: Uint8Array[], variant: number): Uint8Array {
  const parts = [pcapFileHeader(65535, 1), ...frames.map((f, i) => pcapRecord(1_700_000_000_000 + i * 1.5, f, variant === 2 ? 40 : 65535))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  if (variant === 1) {
    // Big-endian: swap every 32-bit field of the headers (16-bit version fields too).
    const dv = new DataView(out.buffer);
    const swap32 = (at: number): void => dv.setUint32(at, dv.getUint32(at, true), false);
    for (const at of [0, 8, 12, 16, 20]) swap32(at);
    dv.setUint16(4, 2, false);
    dv.setUint16(6, 4, false);
    let p = 24;
    while (p + 16 <= out.length) {
      const incl = dv.getUint32(p + 8, true);
      for (const k of [0, 4, 8, 12]) swap32(p + k);
      p += 16 + incl;
    }
  }
  return out;
}

export const pcapTarget: FuzzTarget = {
  name: 'pcap',
  description: 'readPcap on any bytes: throws only BywayError ERR_PCAP_FORMAT; records tile the file exactly',
  format: 'bytes',
  maxLen: 4096,
  seeds: () => {
    const frames = fixtureFrames().map((f) => f.frame).slice(0, 6);
    return [pcapOf(frames, 0), pcapOf(frames, 1), pcapOf(frames, 2), pcapOf([], 0)];
  },
  generator: () =>
    fc.record({
      be: fc.boolean(),
      nanos: fc.boolean(),
      major: fc.oneof(fc.constant(2), u16),
      recs: fc.array(fc.record({ sec: u32, frac: fc.oneof(fc.nat(999_999), u32), incl: fc.nat(80), lie: fc.option(u32, { freq: 4, nil: undefined }), orig: u32 }), { maxLength: 5 }),
      cut: fc.option(fc.nat(400), { freq: 4, nil: undefined }),
    }).map(({ be, nanos, major, recs, cut }) => {
      const parts: number[] = [];
      const w32 = (v: number): void => {
        const b = [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
        parts.push(...(be ? b : b.reverse()));
      };
      const w16 = (v: number): void => {
        const b = [v >>> 8, v & 0xff];
        parts.push(...(be ? b : b.reverse()));
      };
      w32(nanos ? 0xa1b23c4d : 0xa1b2c3d4);
      w16(major);
      w16(4);
      w32(0);
      w32(0);
      w32(65535);
      w32(1);
      for (const r of recs) {
        w32(r.sec);
        w32(r.frac);
        w32(r.lie ?? r.incl);
        w32(r.orig);
        for (let i = 0; i < r.incl; i++) parts.push(i & 0xff);
      }
      const out = Uint8Array.from(parts);
      return cut === undefined ? out : out.subarray(0, cut);
    }),
  run(input) {
    let res;
    try {
      res = readPcap(input);
    } catch (e) {
      check(e instanceof BywayError && e.code === 'ERR_PCAP_FORMAT', () => `readPcap threw ${e instanceof Error ? `${e.name} ${(e as { code?: string }).code ?? ''}: ${e.message}` : String(e)}`);
      return `err:${(e as Error).message.replace(/[0-9]+/g, '').slice(0, 24)}`;
    }
    let o = 24;
    for (const r of res.records) {
      check(r.data.buffer === input.buffer && r.data.byteOffset === input.byteOffset + o + 16, 'record data is not the view that follows its header');
      check(Number.isFinite(r.timeMs) && r.timeMs >= 0, `record time ${r.timeMs}`);
      check(Number.isInteger(r.origLen) && r.origLen >= 0, 'origLen');
      o += 16 + r.data.length;
    }
    check(o === input.length, `records cover ${o} of ${input.length} bytes`);
    check(res.linktype >= 0 && res.linktype <= 0xffff && res.versionMajor === 2, 'header fields');
    return `ok${Math.min(res.records.length, 3)}${res.bigEndian ? 'b' : 'l'}${res.nanos ? 'n' : 'u'}`;
  },
};

export type { Rec };
