/** The packetdrill script parser and the `%{ }%` evaluator, on small scripts written for these tests. */
import { describe, expect, it } from 'vitest';
import { ParseError, parseScript } from '../../tools/packetdrill/parse.js';
import { PyError, runPython, type PyValue } from '../../tools/packetdrill/pyexpr.js';

describe('parseScript', () => {
  it('reads options, comments, shell lines, times, packets, calls and code blocks', () => {
    const s = parseScript(
      [
        '--tolerance_usecs=7000',
        '--mss=1000',
        '`../common/defaults.sh',
        'sysctl -q net.ipv4.tcp_timestamps=0`',
        '/* a block',
        '   comment */',
        '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3 // trailing comment',
        '+.1 < S 0:0(0) win 32792 <mss 1000,sackOK,TS val 5 ecr 0,nop,wscale 7>',
        '+0~+.04 > S. 0:0(0) ack 1 win 100 <...>',
        '* > . 1:1(0) ack 1 <nop,nop,sack 1001:2001 3001:4001>',
        '+0...0.200 accept(3, ..., ...) = 4',
        '0.3 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0',
        '+0 write(4, ..., 10) = -1 EPIPE (Broken pipe)',
        '+0 fcntl(4, F_GETFL) = 0x802',
        '+0 %{',
        'x = 1; x += 2  # comment',
        'assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd',
        '}%',
        '0.5 < [1:1461(1460)] icmp unreachable frag_needed mtu 1200',
        '+0 < icmp type_3 code_13 [1:2(1)]',
      ].join('\n'),
    );
    expect([...s.options]).toEqual([
      ['tolerance_usecs', '7000'],
      ['mss', '1000'],
    ]);
    const ev = s.events;
    expect(ev.map((e) => e.line)).toEqual([3, 7, 8, 9, 10, 11, 12, 13, 14, 15, 19, 20]);
    expect(ev[0]!.time).toBeUndefined();
    expect(ev[0]!.action).toEqual({ type: 'shell', command: '../common/defaults.sh\nsysctl -q net.ipv4.tcp_timestamps=0' });
    expect(ev[2]!.time).toMatchObject({ kind: 'rel', value: 0.1 });
    expect(ev[2]!.action).toEqual({
      type: 'tcp',
      direction: 'in',
      flags: 'S',
      seq: 0,
      end: 0,
      len: 0,
      ack: undefined,
      win: 32792,
      options: [{ kind: 'mss', value: 1000 }, { kind: 'sackOK' }, { kind: 'TS', val: 5, ecr: 0 }, { kind: 'nop' }, { kind: 'wscale', value: 7 }],
    });
    expect(ev[3]!.time).toMatchObject({ kind: 'rel', value: 0, rangeEnd: { relative: true, value: 0.04 } });
    expect(ev[3]!.action).toMatchObject({ direction: 'out', flags: 'S.', ack: 1, win: 100, options: 'any' });
    expect(ev[4]!.time?.kind).toBe('any');
    expect(ev[4]!.action).toMatchObject({ options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1001, 2001], [3001, 4001]] }] });
    expect(ev[5]!.time).toMatchObject({ kind: 'rel', value: 0, blockingEnd: 0.2 });
    expect(ev[5]!.action).toMatchObject({ type: 'call', name: 'accept', result: 4, errno: undefined });
    const linger = ev[6]!.action;
    expect(linger.type === 'call' && linger.args[3]).toEqual({ kind: 'struct', fields: new Map([['onoff', { kind: 'num', value: 1 }], ['linger', { kind: 'num', value: 0 }]]) });
    expect(ev[7]!.action).toMatchObject({ name: 'write', result: -1, errno: 'EPIPE' });
    expect(ev[8]!.action).toMatchObject({ name: 'fcntl', result: 0x802 });
    expect(ev[9]!.action).toMatchObject({ type: 'code' });
    expect(ev[10]!.action).toEqual({ type: 'icmp', direction: 'in', icmpType: 3, icmpCode: 4, mtu: 1200, quoted: { seq: 1, end: 1461, len: 1460 } });
    expect(ev[11]!.action).toEqual({ type: 'icmp', direction: 'in', icmpType: 3, icmpCode: 13, mtu: undefined, quoted: { seq: 1, end: 2, len: 1 } });
  });

  it('rejects what is not in the grammar with the line number', () => {
    const bad = (text: string, line: number, message: RegExp): void => {
      let err: unknown;
      try {
        parseScript(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ParseError);
      expect((err as ParseError).line).toBe(line);
      expect((err as ParseError).message).toMatch(message);
    };
    bad('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(1) win 1', 2, /inconsistent 0:0\(1\)/);
    bad('\n\n+0 < . 1:1(0) ack 1', 3, /needs `win N`/);
    bad('+0 > Q 0:0(0)', 1, /bad TCP flags/);
    bad('+0 > . 0:0(0) <mss>', 1, /bad TCP option/);
    bad('* write(3, ..., 1) = 1', 1, /outbound packets only/);
    bad('0...1 < . 1:1(0) ack 1 win 1', 1, /system calls only/);
    bad('+0 frobnicate', 1, /unknown event/);
    bad('+0 close(3)', 1, /expected '= result'/);
    bad('abc', 1, /expected a time/);
  });
});

describe('runPython (the %{ }% subset)', () => {
  const fields = (name: string): PyValue | undefined => ({ tcpi_snd_cwnd: 10, tcpi_rtt: 100_500, TCP_CA_Open: 0 } as Record<string, number>)[name];

  it('evaluates asserts, assignments kept across blocks, and/or, chained comparisons, arithmetic', () => {
    const vars = new Map<string, PyValue>();
    expect(runPython('cwnd = 8; cwnd += 2; assert tcpi_snd_cwnd == cwnd, tcpi_snd_cwnd', vars, fields)).toBeUndefined();
    expect(vars.get('cwnd')).toBe(10);
    expect(runPython('assert tcpi_rtt >= 95*1000 and tcpi_rtt <= 105*1000', vars, fields)).toBeUndefined();
    expect(runPython('assert 1 < 2 < 3\nassert not (2 < 1)\nassert 7 // 2 == 3 and 7 % 4 == 3', vars, fields)).toBeUndefined();
    expect(runPython('assert 0x7fffffff == 2147483647 # hex', vars, fields)).toBeUndefined();
  });

  it('reports a failed assert with its message, formatted like Python', () => {
    const vars = new Map<string, PyValue>();
    expect(runPython("assert tcpi_snd_cwnd == 11, 'cwnd=%d' % tcpi_snd_cwnd", vars, fields)).toBe("assert failed: tcpi_snd_cwnd == 11, 'cwnd=%d' % tcpi_snd_cwnd (cwnd=10)");
    expect(runPython('cwnd = 1; cwnd += 1; assert tcpi_snd_cwnd == cwnd', vars, fields)).toBe('assert failed: tcpi_snd_cwnd == cwnd');
  });

  it('throws PyError for a field without a value or a statement it cannot read', () => {
    expect(() => runPython('assert tcpi_reordering == 3', new Map(), fields)).toThrow(PyError);
    expect(() => runPython('import os', new Map(), fields)).toThrow(PyError);
  });

  it('passes print() output to the printer', () => {
    const printed: string[] = [];
    runPython('print(tcpi_snd_cwnd)', new Map(), fields, (t) => printed.push(t));
    expect(printed).toEqual(['10']);
  });
});
