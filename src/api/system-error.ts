/**
 * The system errors node:net and node:dgram give (`connect ECONNREFUSED 10.0.0.2:80`), with the properties Node
 * sets: code, errno (libuv's negative Linux errno), syscall, address, port.
 */
import { BywayError } from '../../protocols/util/errors.js';

const ERRNO: Record<string, number> = {
  ECONNREFUSED: -111,
  ECONNRESET: -104,
  ETIMEDOUT: -110,
  EHOSTUNREACH: -113,
  ENETUNREACH: -101,
  EPIPE: -32,
  EADDRINUSE: -98,
  EADDRNOTAVAIL: -99,
  ENOTCONN: -107,
  EMFILE: -24,
  EACCES: -13,
  EINVAL: -22,
};

export type NodeSystemError = BywayError & { errno?: number; syscall?: string; address?: string; port?: number };

export function systemError(code: string, syscall: string, address?: string, port?: number): NodeSystemError {
  const where = address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : '';
  const err = new BywayError(code, `${syscall} ${code}${where}`) as NodeSystemError;
  if (ERRNO[code] !== undefined) err.errno = ERRNO[code];
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}
