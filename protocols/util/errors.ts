/**
 * The one error type byway throws: for API misuse or a resource that cannot work, never for bad wire input
 * (that is dropped and counted). `code` is stable and, where Node has one, Node's own (EADDRINUSE, ECONNRESET...).
 */
export class BywayError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'BywayError';
  }
}

export function invalidArg(message: string): BywayError {
  return new BywayError('ERR_INVALID_ARG_VALUE', message);
}
