import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLink } from '../../drivers/memory/index.js';
import { pcap, pcapFile, readPcap } from '../../drivers/middleware/index.js';
import { BywayError } from '../../protocols/util/errors.js';
import { fromHex, toHex, write16 } from '../../protocols/util/bytes.js';
import { checksum, pseudoHeaderSum } from '../../protocols/util/checksum.js';
import { describeWithTools } from '../helpers/netns.js';
import { recvAll, send } from './helpers.js';
import { concatBytes as concat } from '../helpers/bytes.js';


// ARP request who-has 10.0.0.2 tell 10.0.0.1 (RFC 826), broadcast.
const ARP_REQUEST = fromHex(
  'ffffffffffff020000000001' + '0806' + '0001' + '0800' + '06' + '04' + '0001' + '020000000001' + '0a000001' + '000000000000' + '0a000002',
);
// ARP reply 10.0.0.2 is-at 02:00:00:00:00:02.
const ARP_REPLY = fromHex(
  '020000000001020000000002' + '0806' + '0001' + '0800' + '06' + '04' + '0002' + '020000000002' + '0a000002' + '020000000001' + '0a000001',
);

/** IPv4 (RFC 791) header + UDP (RFC 768) datagram 10.0.0.1:40000 -> 10.0.0.2:7 (echo) carrying "ping", checksums filled. */
function ipv4Udp(): Uint8Array {
  const p = fromHex('4500' + '0020' + '1234' + '4000' + '40' + '11' + '0000' + '0a000001' + '0a000002' + '9c40' + '0007' + '000c' + '0000' + '70696e67');
  write16(p, 10, checksum(p, 0, 20));
  const udpSum = checksum(p, 20, 32, pseudoHeaderSum(0x0a000001, 0x0a000002, 17, 12));
  write16(p, 26, udpSum === 0 ? 0xffff : udpSum);
  return p;
}
const ETH_IPV4 = fromHex('020000000002' + '020000000001' + '0800');
const UDP_FRAME = concat([ETH_IPV4, ipv4Udp()]);

describe('pcap writer', () => {
  it('writes the global header on creation and byte-exact records', () => {
    const [a, b] = memoryLink();
    const chunks: Uint8Array[] = [];
    const pa = pcap(a, { sink: (c) => chunks.push(c), epochMs: 1_700_000_000_000, snaplen: 65535 });
    expect(chunks).toHaveLength(1);
    expect(toHex(chunks[0]!)).toBe('d4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '01000000');
    send(pa, 1500.25, ARP_REQUEST); // tx at t = 1 700 000 001.500250 s
    expect(toHex(chunks[1]!)).toBe(
      '01f15365' + // 1700000001 = 0x6553f101
        '1aa20700' + // 500250 = 0x0007a21a
        '2a000000' + '2a000000' + toHex(ARP_REQUEST),
    );
    send(b, 0, ARP_REPLY);
    let seen: Uint8Array | undefined;
    expect(pa.receive(2000, 10, (f) => (seen = f.slice()))).toBe(1);
    expect(seen).toEqual(ARP_REPLY);
    expect(toHex(chunks[2]!.subarray(0, 16))).toBe('02f15365' + '00000000' + '2a000000' + '2a000000');
    expect(chunks[2]!.subarray(16)).toEqual(ARP_REPLY);
    expect(pa.records).toBe(2);
    // pass-through: stats are the inner driver's
    expect(pa.stats).toBe(a.stats);
    expect(pa.caps).toBe(a.caps);
    expect(pa.hwAddress).toBe(a.hwAddress);
  });

  it('uses LINKTYPE_IPV4 for the ip medium and cuts records to snaplen', () => {
    const [a] = memoryLink({ medium: 'ip' });
    const chunks: Uint8Array[] = [];
    const pa = pcap(a, { sink: (c) => chunks.push(c), snaplen: 20 });
    send(pa, 0, ipv4Udp());
    const file = readPcap(concat(chunks));
    expect(file.linktype).toBe(228);
    expect(file.snaplen).toBe(20);
    expect(file.records[0]!.data).toEqual(ipv4Udp().subarray(0, 20));
    expect(file.records[0]!.origLen).toBe(32);
  });

  it('chunks handed to the sink are never reused', () => {
    const [a, b] = memoryLink();
    const chunks: Uint8Array[] = [];
    const pa = pcap(a, { sink: (c) => chunks.push(c) });
    send(pa, 0, ARP_REQUEST);
    send(pa, 0, ARP_REPLY);
    recvAll(b, 0);
    send(pa, 0, UDP_FRAME);
    expect(readPcap(concat(chunks)).records.map((r) => r.data)).toEqual([ARP_REQUEST, ARP_REPLY, UDP_FRAME]);
  });

  it('round-trips through readPcap (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ minLength: 14, maxLength: 1514 }), fc.integer({ min: 0, max: 10_000_000 })), {
          maxLength: 30,
        }),
        fc.integer({ min: 0, max: 2_000_000_000_000 }),
        (frames, epochMs) => {
          const [a, b] = memoryLink();
          const chunks: Uint8Array[] = [];
          const pa = pcap(a, { sink: (c) => chunks.push(c), epochMs });
          const want: Array<{ data: Uint8Array; timeMs: number }> = [];
          let now = 0;
          for (const [rx, data, dt] of frames) {
            now += dt / 1000; // micro-second steps
            if (rx) {
              send(b, now, data);
              pa.receive(now, 1, () => {});
            } else send(pa, now, data);
            want.push({ data, timeMs: now + epochMs });
          }
          const file = readPcap(concat(chunks));
          expect(file.linktype).toBe(1);
          expect(file.records.map((r) => r.data)).toEqual(want.map((w) => w.data));
          file.records.forEach((r, i) => {
            expect(r.origLen).toBe(want[i]!.data.length);
            expect(Math.abs(r.timeMs - want[i]!.timeMs)).toBeLessThanOrEqual(0.0005 + 1e-6);
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('closing the wrapper closes the inner driver', () => {
    const [a] = memoryLink();
    let closed = 0;
    const pa = pcap(a, { sink: () => {}, onClose: () => closed++ });
    pa.close();
    pa.close();
    expect(closed).toBe(1);
    expect(a.closed).toBe(true);
    expect(() => pa.txReserve(10)).toThrowError(expect.objectContaining({ code: 'ERR_DRIVER_CLOSED' }));
  });
});

describeWithTools('pcapFile and tshark', ['tshark'], () => {
  it('writes a file tshark reads without complaint', () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-pcap-'));
    try {
      const file = join(dir, 'eth.pcap');
      const [a, b] = memoryLink();
      const pa = pcapFile(a, file, { epochMs: Date.UTC(2026, 10, 24) });
      send(pa, 0, ARP_REQUEST);
      send(b, 0.5, ARP_REPLY);
      pa.receive(0.5, 10, () => {});
      send(pa, 1, UDP_FRAME);
      // Written synchronously: the bytes are there before close.
      expect(readPcap(new Uint8Array(readFileSync(file))).records).toHaveLength(3);
      pa.close();
      const parsed = readPcap(new Uint8Array(readFileSync(file)));
      expect(parsed.records.map((r) => r.data)).toEqual([ARP_REQUEST, ARP_REPLY, UDP_FRAME]);

      const env = { ...process.env, TZ: 'UTC' };
      const brief = spawnSync('/usr/bin/tshark', ['-r', file], { encoding: 'utf8', timeout: 20_000, env });
      expect(brief.status, brief.stderr).toBe(0);
      expect(brief.stdout).toMatch(/ARP.*Who has 10\.0\.0\.2\? Tell 10\.0\.0\.1/);
      expect(brief.stdout).toMatch(/ARP.*10\.0\.0\.2 is at 02:00:00:00:00:02/);
      expect(brief.stdout).toMatch(/10\.0\.0\.1 → 10\.0\.0\.2 .*(UDP|ECHO)|10\.0\.0\.1 -> 10\.0\.0\.2/);
      const verbose = spawnSync('/usr/bin/tshark', ['-r', file, '-V'], { encoding: 'utf8', timeout: 20_000, env });
      expect(verbose.status, verbose.stderr).toBe(0);
      expect(verbose.stdout).toContain('Source Port: 40000');
      expect(verbose.stdout).not.toMatch(/Malformed/i);
      expect(verbose.stdout).toMatch(/Header Checksum: 0x[0-9a-f]{4}/i);
      expect(verbose.stdout).toMatch(/Arrival Time: Nov 24, 2026 00:00:00\.000000/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes LINKTYPE_IPV4 that tshark decodes as IPv4', () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-pcap-'));
    try {
      const file = join(dir, 'ip.pcap');
      const [a] = memoryLink({ medium: 'ip' });
      const pa = pcapFile(a, file);
      send(pa, 0, ipv4Udp());
      pa.close();
      const r = spawnSync('/usr/bin/tshark', ['-r', file, '-V'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('Internet Protocol Version 4, Src: 10.0.0.1, Dst: 10.0.0.2');
      expect(r.stdout).toContain('User Datagram Protocol, Src Port: 40000');
      expect(r.stdout).not.toMatch(/Malformed/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readPcap', () => {
  const expectFormatError = (bytes: Uint8Array) => {
    let err: unknown;
    try {
      readPcap(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BywayError);
    expect((err as BywayError).code).toBe('ERR_PCAP_FORMAT');
    return (err as BywayError).message;
  };

  it('reads big-endian and nanosecond files', () => {
    const be = fromHex('a1b23c4d' + '0002' + '0004' + '00000000' + '00000000' + '0000ffff' + '000000e4' + '00000002' + '1dcd6500' + '00000003' + '00000005' + 'aabbcc');
    const f = readPcap(be);
    expect(f).toMatchObject({ linktype: 228, snaplen: 65535, nanos: true, bigEndian: true });
    expect(f.records).toHaveLength(1);
    expect(f.records[0]!.timeMs).toBeCloseTo(2500, 9);
    expect(f.records[0]!.origLen).toBe(5);
    expect(f.records[0]!.data).toEqual(fromHex('aabbcc'));
    const le = fromHex('4d3cb2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '01000000');
    expect(readPcap(le)).toMatchObject({ nanos: true, bigEndian: false, linktype: 1, records: [] });
  });

  it('rejects bad magic, bad version, truncation with ERR_PCAP_FORMAT', () => {
    const chunks: Uint8Array[] = [];
    const [a] = memoryLink();
    send(pcap(a, { sink: (c) => chunks.push(c) }), 0, ARP_REQUEST);
    const good = concat(chunks);
    expect(expectFormatError(new Uint8Array(0))).toMatch(/shorter than/);
    expect(expectFormatError(new TextEncoder().encode('this is not a pcap file at all'))).toMatch(/magic/);
    const v = good.slice();
    v[4] = 1;
    expect(expectFormatError(v)).toMatch(/version/);
    expect(expectFormatError(good.subarray(0, 30))).toMatch(/truncated record header/);
    expect(expectFormatError(good.subarray(0, good.length - 1))).toMatch(/truncated record/);
    for (let cut = 1; cut < good.length; cut++) {
      if (cut === 24) expect(readPcap(good.subarray(0, cut)).records).toEqual([]);
      else expectFormatError(good.subarray(0, cut));
    }
    expectFormatError(42 as unknown as Uint8Array);
  });

  it('never throws anything but ERR_PCAP_FORMAT (property)', () => {
    const chunks: Uint8Array[] = [];
    const [a] = memoryLink();
    const pa = pcap(a, { sink: (c) => chunks.push(c) });
    send(pa, 0, ARP_REQUEST);
    send(pa, 1, UDP_FRAME);
    const good = concat(chunks);
    const mutated = fc
      .array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })
      .chain((muts) =>
        fc.nat(good.length).map((cut) => {
          const b = good.slice(0, cut);
          for (const [i, v] of muts) if (i < b.length) b[i] = v;
          return b;
        }),
      );
    const headerish = fc
      .uint8Array({ maxLength: 200 })
      .chain((rest) => fc.constantFrom('d4c3b2a1', 'a1b2c3d4', '4d3cb2a1', 'a1b23c4d').map((m) => concat([fromHex(m), rest])));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated, headerish), (bytes) => {
        try {
          const f = readPcap(bytes);
          for (const r of f.records) expect(Number.isFinite(r.timeMs)).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(BywayError);
          expect((e as BywayError).code).toBe('ERR_PCAP_FORMAT');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
