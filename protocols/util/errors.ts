/**
 * Every error code byway gives, as closed sets, so a misspelt code does not compile (issue #16):
 * - `SYSTEM_ERRORS`: the system errors (ECONNRESET, EADDRINUSE...), one table with the errno and description libuv
 *   gives each on Linux (its UV_ERRNO_MAP: the negative Linux errno), which Node puts in `err.errno` and in the
 *   messages of listen errors. test/api/error-codes.test.ts checks the table against Node's own map.
 * - `NODE_ERROR_CODES`: Node's ERR_* codes byway throws for API misuse (src/api/errors.ts builds those errors).
 * - `BYWAY_ERROR_CODES`: byway's own, for what Node has no code for (drivers, privileges, the control socket).
 * No `node:` import here: protocol cores (a reset, a time-out) produce these codes too.
 */

/** code -> [errno (libuv's, negative), description (uv_strerror's)]. */
export const SYSTEM_ERRORS = {
  E2BIG: [-7, 'argument list too long'],
  EACCES: [-13, 'permission denied'],
  EADDRINUSE: [-98, 'address already in use'],
  EADDRNOTAVAIL: [-99, 'address not available'],
  EAFNOSUPPORT: [-97, 'address family not supported'],
  EAGAIN: [-11, 'resource temporarily unavailable'],
  EBADF: [-9, 'bad file descriptor'],
  EBUSY: [-16, 'resource busy or locked'],
  ECONNABORTED: [-103, 'software caused connection abort'],
  ECONNREFUSED: [-111, 'connection refused'],
  ECONNRESET: [-104, 'connection reset by peer'],
  EEXIST: [-17, 'file already exists'],
  EHOSTUNREACH: [-113, 'host is unreachable'],
  EINVAL: [-22, 'invalid argument'],
  EIO: [-5, 'i/o error'],
  EMFILE: [-24, 'too many open files'],
  EMSGSIZE: [-90, 'message too long'],
  ENETDOWN: [-100, 'network is down'],
  ENETUNREACH: [-101, 'network is unreachable'],
  ENOBUFS: [-105, 'no buffer space available'],
  ENODEV: [-19, 'no such device'],
  ENOENT: [-2, 'no such file or directory'],
  ENOMEM: [-12, 'not enough memory'],
  ENOPROTOOPT: [-92, 'protocol not available'],
  ENOSYS: [-38, 'function not implemented'],
  ENOTCONN: [-107, 'socket is not connected'],
  /** Node's name for a name lookup that found nothing (libuv's EAI_NONAME): dns.lookup's, passed on unchanged. */
  ENOTFOUND: [-3008, 'unknown node or service'],
  /** Linux's EOPNOTSUPP, which libuv names ENOTSUP. */
  ENOTSUP: [-95, 'operation not supported on socket'],
  ENXIO: [-6, 'no such device or address'],
  EPERM: [-1, 'operation not permitted'],
  EPIPE: [-32, 'broken pipe'],
  EPROTO: [-71, 'protocol error'],
  ETIMEDOUT: [-110, 'connection timed out'],
} as const satisfies Record<string, readonly [number, string]>;
export type SystemErrorCode = keyof typeof SYSTEM_ERRORS;

/**
 * What a TCP connection closes with (RFC 9293): a reset (ECONNRESET), a reset or a hard ICMP error answering its
 * SYN (ECONNREFUSED, EHOSTUNREACH), retransmissions, probes or the user time-out unanswered (ETIMEDOUT).
 */
export type TcpCloseError = Extract<SystemErrorCode, 'ECONNREFUSED' | 'ECONNRESET' | 'EHOSTUNREACH' | 'ETIMEDOUT'>;

/** The codes of Node's errors byway throws for misuse. */
export const NODE_ERROR_CODES = [
  'ERR_BUFFER_OUT_OF_BOUNDS',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  'ERR_INVALID_ADDRESS_FAMILY',
  'ERR_INVALID_IP_ADDRESS',
  'ERR_MISSING_ARGS',
  'ERR_OUT_OF_RANGE',
  'ERR_SERVER_ALREADY_LISTEN',
  'ERR_SERVER_NOT_RUNNING',
  'ERR_SOCKET_ALREADY_BOUND',
  'ERR_SOCKET_BAD_BUFFER_SIZE',
  'ERR_SOCKET_BAD_PORT',
  'ERR_SOCKET_BAD_TYPE',
  'ERR_SOCKET_CLOSED',
  'ERR_SOCKET_CONNECTING',
  'ERR_SOCKET_DGRAM_IS_CONNECTED',
  'ERR_SOCKET_DGRAM_NOT_CONNECTED',
  'ERR_SOCKET_DGRAM_NOT_RUNNING',
] as const;
export type NodeErrorCode = (typeof NODE_ERROR_CODES)[number];

/** byway's own codes (no Node equivalent). */
export const BYWAY_ERROR_CODES = [
  /** A socket asked of the bypass path where the stack has no such transport (built without TCP, no IPv6). */
  'ERR_BYPASS_UNSUPPORTED',
  /** The control socket (byway ss/stat/capture) answered with an error, or its directory is unusable. */
  'ERR_CONTROL',
  'ERR_CONTROL_DIR',
  /** A driver used after close(). */
  'ERR_DRIVER_CLOSED',
  /** The preload could not open the driver its config names. */
  'ERR_DRIVER_OPEN',
  /** The kernel refused an AF_PACKET fanout program. */
  'ERR_FANOUT_PROGRAM',
  /** A frame larger than the driver's slot. */
  'ERR_FRAME_TOO_BIG',
  /** A call out of order (a second reservation, a flow claimed twice, a mode that has no such thing). */
  'ERR_INVALID_STATE',
  /** The native addon is not built or does not load. */
  'ERR_NATIVE_UNAVAILABLE',
  /** A capture file byway cannot read. */
  'ERR_PCAP_FORMAT',
  /** A kernel port reservation (shared-address AF_XDP) failed. */
  'ERR_PORT_RESERVE',
  /** Raw IP sockets cannot be opened here. */
  'ERR_RAW_SOCKET_UNAVAILABLE',
  /** A native driver's rings could not be set up (sizes, locked memory). */
  'ERR_RING_SETUP',
  /** A stack used after close(). */
  'ERR_STACK_CLOSED',
  /** /dev/net/tun cannot be opened. */
  'ERR_TUN_UNAVAILABLE',
  /** The XDP flow map refused an edit. */
  'ERR_XDP_FLOW',
  /** The own-address XDP program's IPv6 address map refused an edit. */
  'ERR_XDP_ADDRESS',
  /** XDP/AF_XDP is not available, or not in the mode asked for. */
  'ERR_XDP_UNSUPPORTED',
] as const;
export type BywayOwnErrorCode = (typeof BYWAY_ERROR_CODES)[number];

/** Every code a BywayError carries. */
export type BywayErrorCode = SystemErrorCode | NodeErrorCode | BywayOwnErrorCode;

export function isSystemErrorCode(code: unknown): code is SystemErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(SYSTEM_ERRORS, code);
}

const ALL_CODES: ReadonlySet<string> = new Set<string>([...Object.keys(SYSTEM_ERRORS), ...NODE_ERROR_CODES, ...BYWAY_ERROR_CODES]);

export function isBywayErrorCode(code: unknown): code is BywayErrorCode {
  return typeof code === 'string' && ALL_CODES.has(code);
}

/**
 * The system code for an errno a syscall gave (by name, as the addon's strerrorname_np or Node's `err.code`, or by
 * number, positive or negative): the table's code, EOPNOTSUPP read as ENOTSUP; `fallback` for one outside it.
 */
export function systemCodeOf(name: unknown, errno?: number, fallback: SystemErrorCode = 'EIO'): SystemErrorCode {
  if (isSystemErrorCode(name)) return name;
  if (name === 'EOPNOTSUPP') return 'ENOTSUP';
  if (errno !== undefined && errno !== 0) {
    const want = -Math.abs(errno);
    for (const code of Object.keys(SYSTEM_ERRORS) as SystemErrorCode[]) if (SYSTEM_ERRORS[code][0] === want) return code;
  }
  return fallback;
}

/** libuv's errno for a system code (negative, as Node's `err.errno`). */
export function errnoOf(code: SystemErrorCode): number {
  return SYSTEM_ERRORS[code][0];
}

/** libuv's description of a system code ('address already in use'). */
export function describeSystemError(code: SystemErrorCode): string {
  return SYSTEM_ERRORS[code][1];
}

/**
 * The one error type byway throws: for API misuse or a resource that cannot work, never for bad wire input
 * (that is dropped and counted). `code` is stable and, where Node has one, Node's own (EADDRINUSE, ECONNRESET...).
 */
class BywayErrorClass extends Error {
  readonly code: BywayErrorCode;
  constructor(code: BywayErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'BywayError';
  }
}

export const BywayError = BywayErrorClass;
export type BywayError = BywayErrorClass;

export function invalidArg(message: string): BywayError {
  return new BywayError('ERR_INVALID_ARG_VALUE', message);
}
