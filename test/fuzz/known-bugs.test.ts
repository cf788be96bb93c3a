/**
 * Bugs the fuzzers found in code this suite does not own, kept as tests that are expected to fail until the
 * owner fixes them (vitest then reports the `.fails` test as passing unexpectedly: drop the `.fails`, and the
 * entry in fuzz/regressions/known-failures.json). Each one is the minimised reproducer, written out by hand.
 *
 * The trigger is one forged ICMP "fragmentation needed" (RFC 1191) whose quoted datagram is any packet "from" us
 * to the peer: here an ICMP message, so no transport can validate it (RFC 5927 section 7.2), and next-hop MTU 0
 * (the plateau estimate then gives 68, raised to minPmtu 552).
 */
import { describe, expect, it } from 'vitest';
import { TcpConnection } from '../../protocols/tcp/connection.js';
import { A_CAPS, IP_A, IP_B, MAC_A, MAC_B, World } from '../../fuzz/lib/live.js';
import { buildEthernet, buildIpv4, fixL4Checksum } from '../../fuzz/lib/packets.js';
import { buildStateWorld } from '../../fuzz/targets/stack.js';
import { runMitm } from '../../fuzz/targets/mitm.js';

/** ICMP type 3 code 4 quoting an ICMP datagram IP_A -> IP_B (28 bytes), next-hop MTU 0. */
function forgedFragNeeded(): Uint8Array {
  const quoted = buildIpv4({ src: IP_A, dst: IP_B, proto: 1, payload: Uint8Array.of(8, 0, 0, 0, 0x13, 0x88, 0x2b, 0xfe) });
  const icmp = new Uint8Array(8 + quoted.length);
  icmp[0] = 3;
  icmp[1] = 4;
  icmp.set(quoted, 8);
  const ip = buildIpv4({ src: IP_B, dst: IP_A, proto: 1, payload: icmp });
  fixL4Checksum(ip, 0);
  return buildEthernet(MAC_A, MAC_B, 0x0800, ip);
}

/**
 * A frag-needed (next-hop MTU 0 -> plateau 68 -> minPmtu 552) that IS vouched for: it quotes a UDP datagram of a
 * connected UDP socket on A towards B. The stack learns the path MTU for B; A's TCP connection to B never saw the
 * message (a PMTU learned through another flow, which RFC 1191 section 6.4 expects TCP to pick up).
 */
function vouchedFragNeeded(w: World): Uint8Array {
  const sock = w.a.udp.createSocket();
  sock.connect(IP_B, 9);
  const udp = Uint8Array.of(sock.localPort >>> 8, sock.localPort & 0xff, 0, 9, 0, 8, 0, 0);
  const quoted = buildIpv4({ src: IP_A, dst: IP_B, proto: 17, payload: udp });
  const icmp = new Uint8Array(8 + quoted.length);
  icmp[0] = 3;
  icmp[1] = 4;
  icmp.set(quoted, 8);
  const ip = buildIpv4({ src: IP_B, dst: IP_A, proto: 1, payload: icmp });
  fixL4Checksum(ip, 0);
  return buildEthernet(MAC_A, MAC_B, 0x0800, ip);
}

/** An established connection A -> B with 6000 bytes of A's data in flight (B frozen). */
function inflight(): { w: World; conn: TcpConnection } {
  const { w, conn } = buildStateWorld(4);
  return { w, conn: conn! };
}

describe('known bugs (expected to fail until fixed by the owner)', () => {
  it('a forged frag-needed that no socket vouches for is ignored (RFC 5927 7.2): the path MTU stays', () => {
    const w = new World({ configA: A_CAPS });
    expect(w.a.mtuFor(IP_B)).toBe(1500);
    w.inject(forgedFragNeeded());
    expect(w.a.stats.icmp.pmtuUpdates).toBe(0);
    expect(w.a.stats.icmp.errorsUnmatched).toBe(1);
    expect(w.a.mtuFor(IP_B)).toBe(1500);
  });

  // Fixed: src/stack/stack.ts learned the PMTU before any transport validated the quote.
  it('an unvalidatable ICMP frag-needed does not lower the path MTU (src/stack/stack.ts)', () => {
    const { w } = inflight();
    w.inject(forgedFragNeeded());
    expect(w.a.mtuFor(IP_B)).toBe(1500);
  });

  // protocols/tcp/layer.ts poll(): the timer loop asks pollAt(now), which returns `now` whenever pendingTx is
  // non-empty, then pops and runs the heap's top connection whether or not its timer is due. A connection that
  // cannot send (every segment refused, here EMSGSIZE because its MSS is above the lowered PMTU; in production a
  // full TX ring) stays in pendingTx, so each poll runs ~1,000,000 onTimer calls (~2.5 s of CPU).
  it('TcpLayer.poll runs only due timers when output is pending (protocols/tcp/layer.ts)', () => {
    const { w } = inflight();
    w.inject(vouchedFragNeeded(w));
    expect(w.a.mtuFor(IP_B)).toBe(552);
    const proto = TcpConnection.prototype as unknown as { onTimer(now: number): void };
    const orig = proto.onTimer;
    let calls = 0;
    proto.onTimer = function (this: TcpConnection, now: number) {
      if (++calls > 1000) throw new Error('spinning');
      orig.call(this, now);
    };
    try {
      w.a.tcp!.poll(w.now + 1000); // the RTO is due once: a handful of calls, not a million
    } finally {
      proto.onTimer = orig;
    }
    expect(calls).toBeLessThan(100);
  });

  // protocols/tcp: when the stack's path MTU drops below what the connection's MSS assumes (a PMTU learned
  // from an ICMP the connection did not see, or a route MTU), every segment fails EMSGSIZE in beginTx and the
  // connection stalls until the PMTU entry expires. TCP should clamp to host.mtuFor(dst) - 40 when it builds
  // a segment (RFC 1191 section 6.4: use the current PMTU estimate).
  it('a connection keeps sending after the path MTU drops (protocols/tcp)', () => {
    const { w, conn } = inflight();
    const before = conn.info().bytesAcked;
    const sentBefore = w.emitted;
    w.inject(vouchedFragNeeded(w));
    expect(w.a.mtuFor(IP_B)).toBe(552);
    // Let B answer again, and give TCP two RTOs to retransmit in smaller segments.
    w.frozen = false;
    w.run(5000);
    expect(w.emitted).toBeGreaterThan(sentBefore);
    expect(conn.info().bytesAcked).toBeGreaterThan(before);
    // The 5792 bytes in flight go again as about 12 segments of 500. Retransmissions sent in the same millisecond
    // as a later-SACKed segment once counted as "sent before" it (RACK ordered equal timestamps by sequence number)
    // and were marked lost again at once: 220 retransmissions, 208 of them D-SACKed.
    expect(conn.info().retransmits).toBeLessThanOrEqual(24);
  });

  // protocols/tcp: ACKs sent in answer to unacceptable segments (RFC 9293 3.10.7.4 first check, RFC 7323 PAWS)
  // are not rate-limited. Found by tcp-mitm: a 33 KiB transfer whose handshake frames are delayed 600 ms; A
  // retransmits its SYN, the copy reaches B after the connection closed, B opens a new SYN-RECEIVED connection
  // on the same 4-tuple while A is in TIME-WAIT; A answers B's segments with ACKs (PAWS), B answers A's with
  // ACKs (out of window), forever, with no time passing. Linux bounds this with tcp_invalid_ratelimit (500 ms).
  // Input bytes: size 0x82, then per frame: pass, pass, delay 651 ms, corrupt, delay 601 ms.
  it('two stacks do not ACK each other forever after a delayed SYN meets TIME-WAIT (protocols/tcp)', () => {
    expect(runMitm(Uint8Array.of(0x82, 0x00, 0x16, 0x6d, 0x44, 0x65))).toMatch(/^ok/);
  });
});
