/**
 * The system errors node:net and node:dgram give (`connect ECONNREFUSED 10.0.0.2:80`): a plain `Error`, as Node's
 * are, with the properties Node sets: code, errno (libuv's negative Linux errno), syscall, address, port.
 */
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
  EMSGSIZE: -90,
  EBADF: -9,
  ENOBUFS: -105,
  ECONNABORTED: -103,
};

/** libuv's descriptions, which Node puts in the messages of listen errors ('listen EADDRINUSE: address already in use ...'). */
const DESCRIPTION: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EACCES: 'permission denied',
  EINVAL: 'invalid argument',
  EMFILE: 'too many open files',
};

export type NodeSystemError = Error & { code: string; errno?: number; syscall?: string; address?: string; port?: number };

export function systemError(code: string, syscall: string, address?: string, port?: number): NodeSystemError {
  const where = address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : '';
  const err = new Error(`${syscall} ${code}${where}`) as NodeSystemError;
  if (ERRNO[code] !== undefined) err.errno = ERRNO[code];
  err.code = code;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}

/** Node's uvExceptionWithHostPort form, used for listen errors: 'listen EADDRINUSE: address already in use 0.0.0.0:80'. */
export function uvSystemError(code: string, syscall: string, address: string, port: number): NodeSystemError {
  const err = systemError(code, syscall, address, port);
  const description = DESCRIPTION[code];
  if (description !== undefined) err.message = `${syscall} ${code}: ${description} ${address}:${port}`;
  return err;
}
