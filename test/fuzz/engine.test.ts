/**
 * The fuzzing machinery itself: the engine finds, minimises and saves a planted bug; saved files replay; the
 * oracles reject what they must (a bad checksum in the stack's output, a cap exceeded, a parser that throws);
 * the record encoding is total.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { TargetFuzzer, minimize, runOnce, saveFailure } from '../../fuzz/engine.js';
import { ipv4Target, tcpTarget } from '../../fuzz/targets/wire.js';
import { stackRxTarget, tcpStatesTarget, buildRxWorld, checkEchoes, fixFrame, FIX_ALL } from '../../fuzz/targets/stack.js';
import { fixtureFrames } from '../../fuzz/lib/corpus.js';
import { TcpConnection } from '../../protocols/tcp/connection.js';
import { tcpBytes } from '../../fuzz/lib/gen.js';
import { decodeRecords, encodeRecords } from '../../fuzz/lib/records.js';
import { checkStack } from '../../fuzz/lib/invariants.js';
import { OracleError, type FuzzTarget } from '../../fuzz/lib/target.js';
import { buildEthernet, buildIpv4, refSum, validateEmitted } from '../../fuzz/lib/packets.js';
import { IP_A, IP_B, MAC_A, MAC_B, MTU } from '../../fuzz/lib/live.js';
import { onesSum } from '../../protocols/util/checksum.js';

const tmp = mkdtempSync(join(tmpdir(), 'byway-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The real IPv4 target with a planted bug: it throws on packets with options and the MF flag. */
const planted: FuzzTarget = {
  ...ipv4Target,
  name: 'planted',
  run(input) {
    if (input.length >= 20 && input[0]! > 0x45 && input[0]! >>> 4 === 4 && (input[6]! & 0x20) !== 0) throw new TypeError('planted bug');
    return ipv4Target.run(input);
  },
};

describe('fuzz engine', () => {
  it('finds a planted bug, minimises it, saves it, and the saved file replays the failure', () => {
    const f = new TargetFuzzer(planted, { seed: 1 });
    const failure = f.step(200_000);
    expect(failure).toBeDefined();
    expect(failure!.error).toMatch(/^TypeError: planted bug/);
    expect(failure!.input.length).toBeLessThanOrEqual(20); // minimised down to a header
    const file = saveFailure(tmp, failure!, 'seed: 1');
    expect(readdirSync(tmp).sort()).toEqual([file.split('/').pop(), file.split('/').pop()!.replace('.bin', '.txt')].sort());
    expect(readFileSync(file.replace('.bin', '.txt'), 'utf8')).toContain('planted bug');
    expect(runOnce(planted, new Uint8Array(readFileSync(file))).error).toMatch(/planted bug/);
    expect(runOnce(ipv4Target, new Uint8Array(readFileSync(file))).error).toBeUndefined();
  });

  it('minimises a records input by dropping records that do not matter', () => {
    const t: FuzzTarget = {
      name: 'rec',
      description: '',
      format: 'records',
      maxLen: 100,
      seeds: () => [],
      run(input) {
        if (decodeRecords(input).some((r) => r.tag === 7)) throw new OracleError('tag 7');
      },
    };
    const input = encodeRecords([1, 2, 7, 3, 4].map((tag) => ({ tag, data: Uint8Array.of(tag) })));
    const small = minimize(t, input, 'OracleError: tag 7', 100);
    expect(decodeRecords(small).map((r) => r.tag)).toEqual([7]);
  });

  it('record decoding is total and inverts encoding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        for (const r of decodeRecords(b)) expect(r.data.length).toBeLessThanOrEqual(0xffff);
      }),
      { seed: 3, numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.array(fc.record({ tag: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 8 }), (recs) => {
        const back = decodeRecords(encodeRecords(recs));
        expect(back.map((r) => [r.tag, [...r.data]])).toEqual(recs.map((r) => [r.tag, [...r.data]]));
      }),
      { seed: 4, numRuns: 300 },
    );
  });

  it('the reference checksum agrees with the stack checksum on a fixture-sized buffer', () => {
    const b = Uint8Array.from({ length: 1501 }, (_, i) => (i * 7 + 3) & 0xff);
    for (const off of [0, 1, 2, 3]) expect(refSum(b, off, b.length)).toBe(onesSum(b, off, b.length));
  });
});

describe('fuzz oracles', () => {
  it('validateEmitted accepts what a stack sends and rejects a flipped checksum, a foreign source, a bad length', () => {
    const udp = new Uint8Array(12);
    udp.set([0, 7, 0, 7, 0, 12, 0, 0, 1, 2, 3, 4]);
    const ip = buildIpv4({ src: IP_A, dst: IP_B, proto: 17, payload: udp });
    const good = buildEthernet(MAC_B, MAC_A, 0x0800, ip);
    expect(validateEmitted(good, MAC_A, [IP_A], MTU)).toBeUndefined();
    const badSum = good.slice();
    badSum[14 + 10]! ^= 1;
    expect(validateEmitted(badSum, MAC_A, [IP_A], MTU)).toMatch(/checksum/);
    const foreign = buildEthernet(MAC_B, MAC_A, 0x0800, buildIpv4({ src: IP_B, dst: IP_A, proto: 17, payload: udp }));
    expect(validateEmitted(foreign, MAC_A, [IP_A], MTU)).toMatch(/not ours/);
    expect(validateEmitted(good.subarray(0, good.length - 1), MAC_A, [IP_A], MTU)).toMatch(/total length/);
  });

  it('checkStack passes on the fuzz world and fails when a cap is exceeded', () => {
    const { w } = buildRxWorld();
    expect(() => checkStack(w.a, w.now)).not.toThrow();
    expect(w.a.reassembler.memory).toBeGreaterThan(0); // the world has fragments in reassembly
    (w.a.reassembler.options as { maxBytes: number }).maxBytes = 1;
    expect(() => checkStack(w.a, w.now)).toThrow(/reassembler.memory/);
  });

  it('a stack-rx record with every fix-up reaches the UDP socket', () => {
    const { w } = buildRxWorld();
    const udp = new Uint8Array(8 + 5);
    udp.set([0x23, 0x28, 0, 53, 0, 13, 0, 0, 104, 101, 108, 108, 111]);
    // Addresses and checksums are wrong on purpose: FIX_ALL retargets and recomputes them.
    const frame = buildEthernet(new Uint8Array(6), new Uint8Array(6), 0x0800, buildIpv4({ src: 1, dst: 2, proto: 17, payload: udp }));
    const fixed = fixFrame(frame, FIX_ALL, []);
    w.inject(fixed);
    const sock = w.a.udp.sockets().find((s) => s.localPort === 53)!;
    expect(sock.recv()?.data).toEqual(new TextEncoder().encode('hello'));
    expect(stackRxTarget.run(encodeRecords([{ tag: FIX_ALL, data: frame }]))).toContain('udp.rx');
  });

  it('the real TCP captures pass the tcp target (parse, reused-object parse, re-emit)', () => {
    for (const s of tcpTarget.seeds()) expect(runOnce(tcpTarget, s).error).toBeUndefined();
  });

  it('tcp-states: a RST one past RCV.NXT is answered, not obeyed; a TCP that obeys it fails the RFC 5961 oracle', () => {
    const rst = (seqDelta: number) =>
      tcpBytes({ srcPort: 0, dstPort: 0, seq: seqDelta & 0xffff, ack: 0, flags: 0x14, window: 0, urgent: 0, options: new Uint8Array(0), payload: new Uint8Array(0), wrong: undefined, wrongValue: 0 }, IP_B, IP_A);
    const input = (seqDelta: number) => encodeRecords([{ tag: 3 /* ESTABLISHED */, data: new Uint8Array(0) }, { tag: 0, data: rst(seqDelta) }]);
    expect(runOnce(tcpStatesTarget, input(0)).signature).toMatch(/^ESTABLISHED>\|/); // exact: the connection is reset
    expect(runOnce(tcpStatesTarget, input(1)).signature).toMatch(/^ESTABLISHED>ESTABLISHED\|/); // challenge ACK
    // Plant a blind-reset vulnerability: any RST aborts the connection.
    type Arrives = (now: number, seg: { flags: number }, buf: Uint8Array, start?: number, end?: number) => void;
    const proto = TcpConnection.prototype as unknown as { segmentArrives: Arrives };
    const orig = proto.segmentArrives;
    proto.segmentArrives = function (this: TcpConnection, now, seg, buf, start, end) {
      if (seg.flags & 0x04) this.abort(now);
      else orig.call(this, now, seg, buf, start, end);
    };
    try {
      expect(runOnce(tcpStatesTarget, input(1)).error).toMatch(/RFC 5961: a RST/);
    } finally {
      proto.segmentArrives = orig;
    }
  });

  it('the echo oracle sees the reply to a real ping and rejects a reply whose data was altered', () => {
    const { w } = buildRxWorld();
    const ping = fixFrame(fixtureFrames().find((f) => f.name === 'icmp-echo-request')!.frame, FIX_ALL, []);
    w.inject(ping);
    const replies = w.lastOutputs.filter((f) => f.length === ping.length && f[34] === 0);
    expect(replies).toHaveLength(1);
    expect(() => checkEchoes(ping, w.lastOutputs)).not.toThrow();
    const altered = replies[0]!.slice();
    altered[50]! ^= 1;
    expect(() => checkEchoes(ping, [altered])).toThrow(/echo reply data differs/);
  });
});
