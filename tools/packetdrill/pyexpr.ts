/**
 * A tiny evaluator for the Python that packetdrill scripts put in `%{ }%` blocks: statements `assert E[, msg]`,
 * `print(...)`, `name = E`, `name += E`, `name -= E`, separated by newlines or `;`, `#` comments. Expressions:
 * numbers (decimal, 0x hex), names, strings, parentheses and tuples, `not`, `and`, `or`, comparisons (chained),
 * `+ - * / // %` (string `%` formats %d and %s). No Python interpreter is involved.
 *
 * Contract: `runPython` returns undefined when every assert held, or a message naming the failed assert; a name
 * with no value (a tcp_info field byway has no counterpart for) or a syntax it does not know throws PyError.
 */

export class PyError extends Error {}

export type PyValue = number | string | boolean | PyValue[];

type Tok = { t: 'num'; v: number } | { t: 'str'; v: string } | { t: 'name'; v: string } | { t: 'op'; v: string };

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  const re = /\s*(?:(0x[0-9a-fA-F]+|\d+\.\d*|\.\d+|\d+)|('[^']*'|"[^"]*")|([A-Za-z_]\w*)|(\/\/|==|!=|<=|>=|\+=|-=|[-+*/%<>(),=]))/y;
  let pos = 0;
  while (pos < s.length) {
    if (/^\s*$/.test(s.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new PyError(`cannot read '${s.slice(pos).trim()}'`);
    pos = re.lastIndex;
    if (m[1] !== undefined) out.push({ t: 'num', v: Number(m[1]) });
    else if (m[2] !== undefined) out.push({ t: 'str', v: m[2].slice(1, -1) });
    else if (m[3] !== undefined) out.push({ t: 'name', v: m[3] });
    else out.push({ t: 'op', v: m[4]! });
  }
  return out;
}

class Parser {
  private i = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly lookup: (name: string) => PyValue,
  ) {}

  get done(): boolean {
    return this.i >= this.toks.length;
  }
  peek(): Tok | undefined {
    return this.toks[this.i];
  }
  isOp(v: string): boolean {
    const t = this.toks[this.i];
    return t !== undefined && t.t === 'op' && t.v === v;
  }
  isName(v: string): boolean {
    const t = this.toks[this.i];
    return t !== undefined && t.t === 'name' && t.v === v;
  }
  next(): Tok {
    const t = this.toks[this.i++];
    if (!t) throw new PyError('unexpected end of expression');
    return t;
  }
  expect(v: string): void {
    if (!this.isOp(v)) throw new PyError(`expected '${v}'`);
    this.i++;
  }

  expr(): PyValue {
    let v = this.and();
    while (this.isName('or')) {
      this.i++;
      const r = this.and();
      v = truthy(v) ? v : r;
    }
    return v;
  }
  private and(): PyValue {
    let v = this.not();
    while (this.isName('and')) {
      this.i++;
      const r = this.not();
      v = truthy(v) ? r : v;
    }
    return v;
  }
  private not(): PyValue {
    if (this.isName('not')) {
      this.i++;
      return !truthy(this.not());
    }
    return this.cmp();
  }
  private cmp(): PyValue {
    let left = this.sum();
    let result: boolean | undefined;
    for (;;) {
      const t = this.peek();
      if (!t || t.t !== 'op' || !['==', '!=', '<', '>', '<=', '>='].includes(t.v)) break;
      this.i++;
      const right = this.sum();
      const a = num(left);
      const b = num(right);
      const ok = t.v === '==' ? a === b : t.v === '!=' ? a !== b : t.v === '<' ? a < b : t.v === '>' ? a > b : t.v === '<=' ? a <= b : a >= b;
      result = (result ?? true) && ok;
      left = right;
    }
    return result ?? left;
  }
  private sum(): PyValue {
    let v = this.term();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next().v;
      const r = this.term();
      v = op === '+' ? num(v) + num(r) : num(v) - num(r);
    }
    return v;
  }
  private term(): PyValue {
    let v = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('//') || this.isOp('%')) {
      const op = this.next().v;
      const r = this.unary();
      if (op === '%' && typeof v === 'string') v = format(v, r);
      else if (op === '*') v = num(v) * num(r);
      else if (op === '/') v = num(v) / num(r);
      else if (op === '//') v = Math.floor(num(v) / num(r));
      else v = num(v) - Math.floor(num(v) / num(r)) * num(r);
    }
    return v;
  }
  private unary(): PyValue {
    if (this.isOp('-')) {
      this.i++;
      return -num(this.unary());
    }
    if (this.isOp('+')) {
      this.i++;
      return num(this.unary());
    }
    return this.atom();
  }
  private atom(): PyValue {
    const t = this.next();
    if (t.t === 'num' || t.t === 'str') return t.v;
    if (t.t === 'name') {
      if (t.v === 'True') return true;
      if (t.v === 'False') return false;
      return this.lookup(t.v);
    }
    if (t.v === '(') {
      const items: PyValue[] = [];
      let tuple = false;
      while (!this.isOp(')')) {
        items.push(this.expr());
        if (this.isOp(',')) {
          tuple = true;
          this.i++;
        } else break;
      }
      this.expect(')');
      return tuple ? items : (items[0] ?? []);
    }
    throw new PyError(`unexpected '${t.v}'`);
  }
}

function truthy(v: PyValue): boolean {
  return Array.isArray(v) ? v.length > 0 : Boolean(v);
}

function num(v: PyValue): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new PyError(`not a number: ${JSON.stringify(v)}`);
}

function format(fmt: string, args: PyValue): string {
  const list = Array.isArray(args) ? [...args] : [args];
  return fmt.replace(/%[ds]/g, () => String(list.shift() ?? ''));
}

/** Split a block into statements: newlines and `;` end one; `#` comments are dropped. */
function statements(code: string): string[] {
  const out: string[] = [];
  for (const line of code.replace(/\\\r?\n/g, ' ').split('\n')) {
    let cur = '';
    let quote = '';
    for (const c of line) {
      if (quote) {
        if (c === quote) quote = '';
        cur += c;
      } else if (c === "'" || c === '"') {
        quote = c;
        cur += c;
      } else if (c === '#') break;
      else if (c === ';') {
        out.push(cur);
        cur = '';
      } else cur += c;
    }
    out.push(cur);
  }
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * Run a block. `vars` persists across blocks (assignments land there); `fields` resolves names not in `vars`
 * (throws PyError for an unknown name). `print` receives what print() prints. Returns a failure message or undefined.
 */
export function runPython(
  code: string,
  vars: Map<string, PyValue>,
  fields: (name: string) => PyValue | undefined,
  print: (text: string) => void = () => {},
): string | undefined {
  const lookup = (name: string): PyValue => {
    const v = vars.get(name) ?? fields(name);
    if (v === undefined) throw new PyError(`no value for '${name}'`);
    return v;
  };
  for (const stmt of statements(code)) {
    const p = new Parser(tokenize(stmt), lookup);
    if (p.isName('assert')) {
      p.next();
      const v = p.expr();
      let msg: PyValue | undefined;
      if (p.isOp(',')) {
        p.next();
        msg = p.expr();
      }
      if (!p.done) throw new PyError(`cannot read '${stmt}'`);
      if (!truthy(v)) return `assert failed: ${stmt.slice(6).trim()}${msg !== undefined ? ` (${String(msg)})` : ''}`;
      continue;
    }
    if (p.isName('print')) {
      p.next();
      print(String(p.expr()));
      continue;
    }
    const t = p.peek();
    const after = stmt.slice(t && t.t === 'name' ? t.v.length : 0).trim();
    if (t && t.t === 'name' && /^(=(?!=)|\+=|-=)/.test(after)) {
      p.next();
      const op = p.next().v;
      const v = p.expr();
      if (!p.done) throw new PyError(`cannot read '${stmt}'`);
      if (op === '=') vars.set(t.v, v);
      else vars.set(t.v, op === '+=' ? num(lookup(t.v)) + num(v) : num(lookup(t.v)) - num(v));
      continue;
    }
    p.expr();
    if (!p.done) throw new PyError(`cannot read '${stmt}'`);
  }
  return undefined;
}
