/**
 * Parser for the packetdrill script language, the subset that /work/shared/packetdrill/README.md describes (written
 * from the grammar's description, not from packetdrill's sources): `--option=value` lines, `//` and `/* *\/`
 * comments, and events `<time> <action>` where the action is an inbound/outbound TCP packet, an inbound ICMP
 * message, a system call, a `` `shell` `` command or a `%{ python }%` block.
 *
 * Contract: `parseScript` never throws for a script it cannot read: every problem becomes a `ParseError` carrying
 * the line number and the text, so the runner can report the script as failing with a precise reason.
 */

export class ParseError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/** When an event happens. Times are in seconds; `relative` times count from the previous event. */
export interface TimeSpec {
  /** 'abs' 1.5, 'rel' +.1, 'any' (`*`, outbound only). */
  readonly kind: 'abs' | 'rel' | 'any';
  readonly value: number;
  /** `a~b`: the upper end of an expected range (outbound only), same kind rules as `value`. */
  readonly rangeEnd?: { readonly relative: boolean; readonly value: number } | undefined;
  /** `a...b`: a blocking call's end time (relative to the start when the start is relative). */
  readonly blockingEnd?: number | undefined;
}

export type TcpOptionSpec =
  | { readonly kind: 'nop' | 'eol' | 'sackOK' }
  | { readonly kind: 'mss' | 'wscale'; readonly value: number }
  | { readonly kind: 'TS'; readonly val: number; readonly ecr: number }
  | { readonly kind: 'sack'; readonly blocks: ReadonlyArray<readonly [number, number]> };

export interface TcpPacketSpec {
  readonly type: 'tcp';
  readonly direction: 'in' | 'out';
  /** Flag letters as written: S . P F R U E W and '-' for none. */
  readonly flags: string;
  readonly seq: number;
  readonly end: number;
  readonly len: number;
  readonly ack: number | undefined;
  readonly win: number | undefined;
  /** undefined: no options written (none expected); 'any': `<...>`. */
  readonly options: readonly TcpOptionSpec[] | 'any' | undefined;
}

export interface IcmpPacketSpec {
  readonly type: 'icmp';
  readonly direction: 'in' | 'out';
  readonly icmpType: number;
  readonly icmpCode: number;
  readonly mtu: number | undefined;
  /** The quoted TCP segment `[seq:end(len)]`, relative sequence numbers; undefined: the connection's current one. */
  readonly quoted: { readonly seq: number; readonly end: number; readonly len: number } | undefined;
}

/** A system-call argument: a number, a symbol (`SOCK_STREAM`), `...`, a `[list]`, a `{struct}` or an OR of symbols. */
export type CallArg =
  | { readonly kind: 'num'; readonly value: number }
  | { readonly kind: 'sym'; readonly names: readonly string[] }
  | { readonly kind: 'ellipsis' }
  | { readonly kind: 'list'; readonly items: readonly CallArg[] }
  | { readonly kind: 'struct'; readonly fields: ReadonlyMap<string, CallArg> }
  | { readonly kind: 'str'; readonly value: string };

export interface CallSpec {
  readonly type: 'call';
  readonly name: string;
  readonly args: readonly CallArg[];
  readonly result: number;
  readonly errno: string | undefined;
}

export interface ShellSpec {
  readonly type: 'shell';
  readonly command: string;
}

export interface CodeSpec {
  readonly type: 'code';
  readonly code: string;
}

export type Action = TcpPacketSpec | IcmpPacketSpec | CallSpec | ShellSpec | CodeSpec;

export interface ScriptEvent {
  readonly line: number;
  /** The event's text as written (first line), for messages. */
  readonly text: string;
  /** undefined for a shell command written without a time (it runs before the first event). */
  readonly time: TimeSpec | undefined;
  readonly action: Action;
}

export interface Script {
  readonly options: ReadonlyMap<string, string>;
  readonly events: readonly ScriptEvent[];
}

const NUM = String.raw`[+]?(?:\d+(?:\.\d+)?|\.\d+)`;
const TIME_RE = new RegExp(`^(\\*|${NUM})(?:~(${NUM}))?(?:\\.\\.\\.(${NUM}))?`);

/** Replace comments by spaces (keeping newlines, so line numbers stay right); backtick and %{ }% bodies are kept. */
function stripComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '`') {
      const j = text.indexOf('`', i + 1);
      const end = j < 0 ? text.length : j + 1;
      out += text.slice(i, end);
      i = end;
    } else if (c === '%' && text[i + 1] === '{') {
      const j = text.indexOf('}%', i + 2);
      const end = j < 0 ? text.length : j + 2;
      out += text.slice(i, end);
      i = end;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const j = text.indexOf('*/', i + 2);
      const end = j < 0 ? text.length : j + 2;
      out += text.slice(i, end).replace(/[^\n]/g, ' ');
      i = end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export function parseScript(text: string): Script {
  const src = stripComments(text);
  const options = new Map<string, string>();
  const events: ScriptEvent[] = [];
  let i = 0;
  let line = 1;
  const lineAt = (pos: number): number => {
    while (i < pos) {
      if (src[i] === '\n') line++;
      i++;
    }
    return line;
  };
  let pos = 0;
  while (pos < src.length) {
    const c = src[pos]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      pos++;
      continue;
    }
    const ln = lineAt(pos);
    const eol = src.indexOf('\n', pos) < 0 ? src.length : src.indexOf('\n', pos);
    if (src.startsWith('--', pos)) {
      const m = /^--([\w-]+)(?:=(\S*))?/.exec(src.slice(pos, eol));
      if (!m) throw new ParseError(ln, `bad option line '${src.slice(pos, eol).trim()}'`);
      options.set(m[1]!, m[2] ?? '');
      pos = eol;
      continue;
    }
    let time: TimeSpec | undefined;
    if (c !== '`') {
      const m = TIME_RE.exec(src.slice(pos, eol));
      if (!m) throw new ParseError(ln, `expected a time, got '${src.slice(pos, eol).trim()}'`);
      time = parseTime(m, ln);
      pos += m[0].length;
      while (src[pos] === ' ' || src[pos] === '\t') pos++;
    }
    const first = src.slice(pos, src.indexOf('\n', pos) < 0 ? src.length : src.indexOf('\n', pos)).trim();
    let action: Action;
    if (src[pos] === '`') {
      const j = src.indexOf('`', pos + 1);
      if (j < 0) throw new ParseError(ln, 'unterminated ` command');
      action = { type: 'shell', command: src.slice(pos + 1, j) };
      pos = j + 1;
    } else if (src.startsWith('%{', pos)) {
      const j = src.indexOf('}%', pos + 2);
      if (j < 0) throw new ParseError(ln, 'unterminated %{ block');
      action = { type: 'code', code: src.slice(pos + 2, j) };
      pos = j + 2;
    } else {
      const e = src.indexOf('\n', pos) < 0 ? src.length : src.indexOf('\n', pos);
      const body = src.slice(pos, e).trim();
      pos = e;
      if (body.startsWith('<') || body.startsWith('>')) action = parsePacket(body, ln);
      else action = parseCall(body, ln);
    }
    if (time === undefined && action.type !== 'shell') throw new ParseError(ln, 'event without a time');
    if (time && (time.kind === 'any' || time.rangeEnd) && !(action.type !== 'call' && action.type !== 'code' && action.type !== 'shell' && action.direction === 'out')) {
      throw new ParseError(ln, '`*` and `a~b` times are for outbound packets only');
    }
    if (time?.blockingEnd !== undefined && action.type !== 'call') throw new ParseError(ln, '`a...b` times are for system calls only');
    events.push({ line: ln, text: first, time, action });
  }
  return { options, events };
}

function num(s: string): number {
  return Number(s.startsWith('+') ? s.slice(1) : s);
}

function parseTime(m: RegExpExecArray, ln: number): TimeSpec {
  const start = m[1]!;
  if (start === '*') {
    if (m[2] || m[3]) throw new ParseError(ln, 'bad time');
    return { kind: 'any', value: 0 };
  }
  const t: TimeSpec = {
    kind: start.startsWith('+') ? 'rel' : 'abs',
    value: num(start),
    rangeEnd: m[2] ? { relative: m[2].startsWith('+'), value: num(m[2]) } : undefined,
    blockingEnd: m[3] ? num(m[3]) : undefined,
  };
  if (!Number.isFinite(t.value) || (t.blockingEnd !== undefined && !Number.isFinite(t.blockingEnd))) throw new ParseError(ln, 'bad time');
  return t;
}

// ======================================================================================== packets

const SEGMENT_RE = /^(\d+):(\d+)\((\d+)\)$/;

function parseSegmentRange(tok: string, ln: number): { seq: number; end: number; len: number } {
  const m = SEGMENT_RE.exec(tok);
  if (!m) throw new ParseError(ln, `expected SEQ:END(LEN), got '${tok}'`);
  const seq = Number(m[1]);
  const end = Number(m[2]);
  const len = Number(m[3]);
  if (((end - seq) >>> 0) !== len) throw new ParseError(ln, `inconsistent ${tok}: END - SEQ != LEN`);
  return { seq, end, len };
}

const ICMP_TYPES: Record<string, number> = {
  echo_reply: 0, unreachable: 3, source_quench: 4, redirect: 5, echo_request: 8, time_exceeded: 11,
  parameter_problem: 12, timestamp_request: 13, timestamp_reply: 14, information_request: 15,
  information_reply: 16, address_mask_request: 17, address_mask_reply: 18,
};
const UNREACH_CODES: Record<string, number> = {
  net_unreachable: 0, host_unreachable: 1, protocol_unreachable: 2, port_unreachable: 3, frag_needed: 4,
  source_route_failed: 5, net_unknown: 6, host_unknown: 7, source_host_isolated: 8, net_prohibited: 9,
  host_prohibited: 10, net_unreachable_for_tos: 11, host_unreachable_for_tos: 12, packet_filtered: 13,
  precedence_violation: 14, precedence_cutoff: 15,
};

function parsePacket(body: string, ln: number): TcpPacketSpec | IcmpPacketSpec {
  const direction = body[0] === '<' ? 'in' : 'out';
  let rest = body.slice(1).trim();
  // ICMP, older layout: `< [1:1461(1460)] icmp unreachable ...`
  let quoted: IcmpPacketSpec['quoted'];
  const pre = /^\[([^\]]*)\]\s*(icmp\b.*)$/.exec(rest);
  if (pre) {
    quoted = parseSegmentRange(pre[1]!.trim(), ln);
    rest = pre[2]!;
  }
  if (/^icmp\b/.test(rest)) {
    const post = /^(.*?)\s*\[([^\]]*)\]\s*$/.exec(rest);
    if (post) {
      quoted = parseSegmentRange(post[2]!.trim(), ln);
      rest = post[1]!;
    }
    const toks = rest.split(/\s+/).slice(1);
    const typeTok = toks.shift();
    if (typeTok === undefined) throw new ParseError(ln, 'icmp without a type');
    let icmpType: number;
    let icmpCode = 0;
    let mtu: number | undefined;
    const tm = /^type_(\d+)$/.exec(typeTok);
    if (tm) icmpType = Number(tm[1]);
    else if (ICMP_TYPES[typeTok] !== undefined) icmpType = ICMP_TYPES[typeTok]!;
    else throw new ParseError(ln, `unknown icmp type '${typeTok}'`);
    const codeTok = toks.shift();
    if (codeTok !== undefined) {
      const cm = /^code_(\d+)$/.exec(codeTok);
      if (cm) icmpCode = Number(cm[1]);
      else if (icmpType === 3 && UNREACH_CODES[codeTok] !== undefined) icmpCode = UNREACH_CODES[codeTok]!;
      else throw new ParseError(ln, `unknown icmp code '${codeTok}'`);
    }
    if (toks[0] === 'mtu') {
      mtu = Number(toks[1]);
      if (!Number.isInteger(mtu)) throw new ParseError(ln, 'bad icmp mtu');
      toks.splice(0, 2);
    }
    if (toks.length) throw new ParseError(ln, `unexpected '${toks.join(' ')}' in icmp line`);
    return { type: 'icmp', direction, icmpType, icmpCode, mtu, quoted };
  }
  // TCP: FLAGS SEQ:END(LEN) [ack N] [win N] [<options>]
  let options: TcpPacketSpec['options'];
  const lt = rest.indexOf('<');
  if (lt >= 0) {
    const gt = rest.lastIndexOf('>');
    if (gt < lt) throw new ParseError(ln, 'unterminated <options>');
    const inner = rest.slice(lt + 1, gt).trim();
    options = inner === '...' ? 'any' : parseOptions(inner, ln);
    if (rest.slice(gt + 1).trim()) throw new ParseError(ln, `unexpected '${rest.slice(gt + 1).trim()}' after options`);
    rest = rest.slice(0, lt).trim();
  }
  const toks = rest.split(/\s+/);
  const flags = toks.shift() ?? '';
  if (!/^(-|[SPFRUEW.]+)$/.test(flags)) throw new ParseError(ln, `bad TCP flags '${flags}'`);
  const range = parseSegmentRange(toks.shift() ?? '', ln);
  let ack: number | undefined;
  let win: number | undefined;
  while (toks.length) {
    const k = toks.shift()!;
    const v = Number(toks.shift());
    if (!Number.isInteger(v) || v < 0) throw new ParseError(ln, `bad value for ${k}`);
    if (k === 'ack') ack = v;
    else if (k === 'win') win = v;
    else throw new ParseError(ln, `unexpected '${k}' in a TCP line`);
  }
  if (direction === 'in' && win === undefined) throw new ParseError(ln, 'an inbound packet needs `win N`');
  return { type: 'tcp', direction, flags, ...range, ack, win, options };
}

function parseOptions(inner: string, ln: number): TcpOptionSpec[] {
  const out: TcpOptionSpec[] = [];
  if (inner === '') return out;
  for (const raw of inner.split(',')) {
    const toks = raw.trim().split(/\s+/);
    const name = toks[0];
    const n = (i: number): number => {
      const v = Number(toks[i]);
      if (toks[i] === undefined || !Number.isInteger(v) || v < 0) throw new ParseError(ln, `bad TCP option '${raw.trim()}'`);
      return v;
    };
    switch (name) {
      case 'nop':
      case 'eol':
      case 'sackOK':
        out.push({ kind: name });
        break;
      case 'mss':
      case 'wscale':
        out.push({ kind: name, value: n(1) });
        break;
      case 'TS':
        if (toks[1] !== 'val' || toks[3] !== 'ecr') throw new ParseError(ln, `bad TS option '${raw.trim()}'`);
        out.push({ kind: 'TS', val: n(2), ecr: n(4) });
        break;
      case 'sack': {
        const blocks: Array<[number, number]> = [];
        for (const b of toks.slice(1)) {
          const m = /^(\d+):(\d+)$/.exec(b);
          if (!m) throw new ParseError(ln, `bad sack block '${b}'`);
          blocks.push([Number(m[1]), Number(m[2])]);
        }
        if (blocks.length < 1 || blocks.length > 4) throw new ParseError(ln, 'sack takes 1 to 4 blocks');
        out.push({ kind: 'sack', blocks });
        break;
      }
      default:
        throw new ParseError(ln, `unknown TCP option '${raw.trim()}'`);
    }
  }
  return out;
}

/** Text form of options, as packetdrill prints them (for messages and comparisons). */
export function formatOptions(opts: readonly TcpOptionSpec[]): string {
  return opts
    .map((o) => {
      switch (o.kind) {
        case 'mss':
        case 'wscale':
          return `${o.kind} ${o.value}`;
        case 'TS':
          return `TS val ${o.val} ecr ${o.ecr}`;
        case 'sack':
          return `sack ${o.blocks.map(([l, r]) => `${l}:${r}`).join(' ')}`;
        default:
          return o.kind;
      }
    })
    .join(',');
}

// ======================================================================================== calls

function parseCall(body: string, ln: number): CallSpec {
  const m = /^([A-Za-z_]\w*)\s*\(/.exec(body);
  if (!m) throw new ParseError(ln, `unknown event '${body}'`);
  const name = m[1]!;
  const p = new ArgParser(body, m[0].length, ln);
  const args = p.args(')');
  const tail = body.slice(p.pos).trim();
  const r = /^=\s*(-?\d+|0x[0-9a-fA-F]+|\.\.\.)(?:\s+([A-Z][A-Z0-9_]*))?(?:\s*\(.*\))?\s*$/.exec(tail);
  if (!r) throw new ParseError(ln, `expected '= result' after ${name}(...), got '${tail}'`);
  return { type: 'call', name, args, result: r[1] === '...' ? NaN : Number(r[1]), errno: r[2] };
}

class ArgParser {
  constructor(
    private readonly s: string,
    public pos: number,
    private readonly ln: number,
  ) {}

  private ws(): void {
    while (this.s[this.pos] === ' ' || this.s[this.pos] === '\t') this.pos++;
  }

  /** Arguments up to and including `close`. */
  args(close: string): CallArg[] {
    const out: CallArg[] = [];
    this.ws();
    if (this.s[this.pos] === close) {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.arg());
      this.ws();
      const c = this.s[this.pos++];
      if (c === close) return out;
      if (c !== ',') throw new ParseError(this.ln, `expected ',' or '${close}' in arguments`);
    }
  }

  private arg(): CallArg {
    this.ws();
    const s = this.s;
    if (s.startsWith('...', this.pos)) {
      this.pos += 3;
      return { kind: 'ellipsis' };
    }
    const c = s[this.pos];
    if (c === '[') {
      this.pos++;
      return { kind: 'list', items: this.args(']') };
    }
    if (c === '{') {
      this.pos++;
      const fields = new Map<string, CallArg>();
      for (const a of this.args('}')) {
        if (a.kind !== 'str') throw new ParseError(this.ln, 'expected name=value in a struct');
        const [k, v] = a.value.split('=');
        fields.set(k!.trim(), { kind: 'num', value: Number(v) });
      }
      return { kind: 'struct', fields };
    }
    if (c === '"') {
      const j = s.indexOf('"', this.pos + 1);
      if (j < 0) throw new ParseError(this.ln, 'unterminated string');
      const value = s.slice(this.pos + 1, j);
      this.pos = j + 1;
      return { kind: 'str', value };
    }
    const m = /^(-?\d+|[A-Za-z_]\w*(?:\s*=\s*-?\d+)?(?:\s*\|\s*[A-Za-z_]\w*)*)/.exec(s.slice(this.pos));
    if (!m) throw new ParseError(this.ln, `bad argument at '${s.slice(this.pos)}'`);
    this.pos += m[0].length;
    const t = m[0];
    if (/^-?\d+$/.test(t)) return { kind: 'num', value: Number(t) };
    if (t.includes('=')) return { kind: 'str', value: t };
    return { kind: 'sym', names: t.split('|').map((x) => x.trim()) };
  }
}
