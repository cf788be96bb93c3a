/**
 * The errors node:net and node:dgram throw for API misuse, as Node builds them: an instance of the same class
 * (`TypeError`, `RangeError`, `Error`), with Node's `code` and message text, and a stack whose first line reads
 * `TypeError [ERR_X]: ...` as Node's do. Messages follow Node v20's lib/internal/errors.js formats (facts taken from
 * Node's behaviour; no code copied). Nothing here throws by itself: each helper returns the error to throw.
 */
import { inspect } from 'node:util';

type Ctor = ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor;

// The codes of Node's errors byway throws for misuse: a closed set (with the system errors' and byway's own, in
// protocols/util/errors.ts), so a misspelt code does not compile.
import type { NodeErrorCode } from '../../protocols/util/errors.js';
export { NODE_ERROR_CODES, type NodeErrorCode } from '../../protocols/util/errors.js';

/** An error of class `ctor` with Node's `code` (an own, enumerable property, as Node's are). */
export function nodeError<C extends Ctor, K extends NodeErrorCode>(ctor: C, code: K, message: string): InstanceType<C> & { code: K } {
  const err = new ctor(message) as InstanceType<C> & { code: K };
  err.code = code;
  // Node's stack line carries the code: "TypeError [ERR_INVALID_ARG_TYPE]: The ...".
  if (typeof err.stack === 'string') err.stack = err.stack.replace(/^(\w*Error)/, `$1 [${code}]`);
  return err;
}

/** How Node names the value it received, in "Received ..." (determineSpecificType in Node 20). */
export function describeReceived(value: unknown): string {
  if (value == null) return String(value);
  if (typeof value === 'function' && value.name) return `function ${value.name}`;
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    if (name) return `an instance of ${name}`;
    return inspect(value, { depth: -1 });
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `type ${typeof value} (${shown})`;
}

/** ERR_INVALID_ARG_TYPE; `expected` is Node's phrase, e.g. 'of type function'. */
export function invalidArgType(name: string, expected: string, actual: unknown): TypeError & { code: string } {
  const what = name.endsWith(' argument') ? `The ${name}` : name.includes('.') ? `The "${name}" property` : `The "${name}" argument`;
  return nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `${what} must be ${expected}. Received ${describeReceived(actual)}`);
}

/** ERR_INVALID_ARG_VALUE: "The argument 'x' is invalid. Received ..." / "The property 'options.x' ...". */
export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): TypeError & { code: string } {
  const kind = name.includes('.') ? 'property' : 'argument';
  let shown = inspect(value);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return nodeError(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${kind} '${name}' ${reason}. Received ${shown}`);
}

export function outOfRange(name: string, range: string, value: unknown): RangeError & { code: string } {
  return nodeError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`);
}

/** ERR_MISSING_ARGS for one argument given under any of several names: 'The "a" or "b" argument must be specified'. */
export function missingArgs(...alternatives: string[]): TypeError & { code: string } {
  return nodeError(TypeError, 'ERR_MISSING_ARGS', `The ${alternatives.map((n) => `"${n}"`).join(' or ')} argument must be specified`);
}

/** ERR_SOCKET_BAD_PORT, as validatePort words it. */
export function badPort(name: string, port: unknown, allowZero: boolean): RangeError & { code: string } {
  return nodeError(RangeError, 'ERR_SOCKET_BAD_PORT', `${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${describeReceived(port)}.`);
}

/** Node's validatePort: a number or a non-blank numeric string, an integer 0..65535 (0 only if allowed). */
export function validatePort(port: unknown, name = 'Port', allowZero = true): number {
  if (
    (typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== +port >>> 0 ||
    +port > 0xffff ||
    (+port === 0 && !allowZero)
  ) {
    throw badPort(name, port, allowZero);
  }
  return +port | 0;
}

export function validateFunction(value: unknown, name: string): asserts value is (...args: unknown[]) => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
}

export function validateAbortSignal(signal: unknown, name: string): asserts signal is AbortSignal | undefined {
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw invalidArgType(name, 'an instance of AbortSignal', signal);
  }
}

/** The AbortError Node's streams and sockets are destroyed with when their signal aborts. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}
