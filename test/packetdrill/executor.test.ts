/**
 * The packetdrill executor against byway, on scripts written for these tests from the grammar: one that must pass
 * (passive open, data both ways with a blocking read, tcp_info asserts, close) and ones that must fail with a
 * precise first mismatch.
 */
import { describe, expect, it } from 'vitest';
import { runScript } from '../../tools/packetdrill/executor.js';

const SERVER = `
\`../common/defaults.sh\`
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>
  +.1 < . 1:1(0) ack 1 win 257
   +0 accept(3, ..., ...) = 4
`;

describe('runScript', () => {
  it('passes a script that matches what byway does', () => {
    const script = `${SERVER}
// a read that blocks until data arrives 50 ms later
   +0...0.050 read(4, ..., 500) = 500
 +.05 < P. 1:501(500) ack 1 win 257
   +0 > . 1:1(0) ack 501
// IW10: 10 segments of the peer's MSS leave at once
   +0 write(4, ..., 10000) = 10000
   +0 > P. 1:10001(10000) ack 501
   +0 %{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }%
   +0 %{ assert tcpi_unacked == 10 and tcpi_snd_mss == 1000 }%
  +.1 < . 501:501(0) ack 10001 win 257
// the peer closes: its FIN is ACKed after the 40 ms delayed-ACK timeout (Linux profile)
   +0 < F. 501:501(0) ack 10001 win 257
 +.04 > . 10001:10001(0) ack 502
   +0 close(4) = 0
   +0 > F. 10001:10001(0) ack 502
   +0 < . 502:502(0) ack 10002 win 257
`;
    const log: string[] = [];
    const r = runScript(script, { log: (l) => log.push(l) });
    expect(r, log.join('\n')).toEqual({ pass: true });
  });

  it('fails at the first outbound mismatch, naming the line, what was expected and what was sent', () => {
    const r = runScript(`${SERVER}
   +0 < P. 1:101(100) ack 1 win 257
   +0 > . 1:1(0) ack 100
`);
    expect(r.pass).toBe(false);
    expect(r.line).toBe(13);
    expect(r.message).toBe("expected '> . 1:1(0) ack 100' at 0.100000: wrong ack; actual '. 1:1(0) ack 101 win 2108' at 0.100000");
    expect(r.time).toBeCloseTo(0.1, 6);
  });

  it('fails a packet sent before its time, and a packet never sent', () => {
    const early = runScript(`${SERVER}
   +0 < P. 1:101(100) ack 1 win 257
 +.04 > . 1:1(0) ack 101
`);
    expect(early.message).toBe("expected '> . 1:1(0) ack 101' at 0.140000: sent too early at 0.100000: '. 1:1(0) ack 101 win 2108'");
    const never = runScript(`${SERVER}
   +1 > . 1:1(0) ack 1
`);
    expect(never.message).toBe("expected '> . 1:1(0) ack 1' at 1.100000: nothing was sent by 1.225000"); // tolerance: 12.5 % of the 1 s gap
  });

  it('fails a wrong system-call result, a failed %{ }% assert and an unsupported command, each with its line', () => {
    const call = runScript(`${SERVER}
   +0 write(4, ..., 10) = 9
`);
    expect([call.line, call.message]).toEqual([12, 'write() returned 10, expected 9']);
    const assert = runScript(`${SERVER}
   +0 %{ assert tcpi_snd_cwnd == 11, tcpi_snd_cwnd }%
`);
    expect([assert.line, assert.message]).toEqual([12, 'assert failed: tcpi_snd_cwnd == 11, tcpi_snd_cwnd (10)']);
    const shell = runScript(`${SERVER}
   +0 \`tc qdisc add dev tun0 root netem delay 10ms\`
`);
    expect([shell.line, shell.message]).toEqual([12, 'unsupported shell command: tc qdisc add dev tun0 root netem delay 10ms']);
  });

  it('applies an inbound GSO train (--mss) as one receive batch: one ACK for ten segments', () => {
    const r = runScript(`--mss=1000
${SERVER}
   +0 < . 1:10001(10000) ack 1 win 257
   +0 > . 1:1(0) ack 10001
`);
    expect(r).toEqual({ pass: true });
  });
});
