/**
 * The system errors node:net and node:dgram give (`connect ECONNREFUSED 10.0.0.2:80`): a plain `Error`, as Node's
 * are, with the properties Node sets: code, errno (libuv's negative Linux errno), syscall, address, port. The codes,
 * errnos and descriptions are one closed table (protocols/util/errors.ts SYSTEM_ERRORS): a misspelt code does not
 * compile.
 */
import { describeSystemError, errnoOf, isSystemErrorCode, type SystemErrorCode } from '../../protocols/util/errors.js';

export type { SystemErrorCode } from '../../protocols/util/errors.js';

export type NodeSystemError = Error & { code: SystemErrorCode; errno?: number; syscall: string; address?: string; port?: number };

export function systemError(code: SystemErrorCode, syscall: string, address?: string, port?: number): NodeSystemError {
  const where = address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : '';
  const err = new Error(`${syscall} ${code}${where}`) as NodeSystemError;
  // (A code outside the table can only come from an untyped caller: no errno then, as before the table.)
  if (isSystemErrorCode(code)) err.errno = errnoOf(code);
  err.code = code;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}

/** Node's uvExceptionWithHostPort form, used for listen errors: 'listen EADDRINUSE: address already in use 0.0.0.0:80'. */
export function uvSystemError(code: SystemErrorCode, syscall: string, address: string, port: number): NodeSystemError {
  const err = systemError(code, syscall, address, port);
  if (isSystemErrorCode(code)) err.message = `${syscall} ${code}: ${describeSystemError(code)} ${address}:${port}`;
  return err;
}

/** The system code an error a stack call threw carries (a BywayError's EADDRINUSE), or undefined for any other. */
export function systemCodeIn(e: unknown): SystemErrorCode | undefined {
  const code = (e as { code?: unknown } | null | undefined)?.code;
  return isSystemErrorCode(code) ? code : undefined;
}
