/**
 * Error codes are closed union types (issue #16): a misspelt code does not compile. The `@ts-expect-error` lines
 * are checked by `npm run lint` (tsc over test/): if a misspelt code were accepted, the directive would be unused
 * and tsc would fail. At run time: the system error table agrees with Node's own (libuv's errno and description
 * for every code), and the codes byway's errors carry are the unions'.
 */
import { getSystemErrorMap } from 'node:util';
import { describe, expect, it } from 'vitest';
import { NODE_ERROR_CODES, nodeError, type NodeErrorCode } from '../../src/api/errors.js';
import { systemError, uvSystemError, type SystemErrorCode } from '../../src/api/system-error.js';
import {
  BYWAY_ERROR_CODES,
  BywayError,
  SYSTEM_ERRORS,
  isBywayErrorCode,
  systemCodeOf,
  type BywayErrorCode,
} from '../../protocols/util/errors.js';
import { memoryLink } from '../../drivers/memory/index.js';
import { pcap } from '../../drivers/middleware/index.js';
import { bypassEnv } from './harness.js';

describe('error codes', () => {
  it('nodeError takes only the codes of the union', () => {
    const ok: NodeErrorCode = 'ERR_SOCKET_BAD_PORT';
    expect(nodeError(RangeError, ok, 'x').code).toBe('ERR_SOCKET_BAD_PORT');
    // @ts-expect-error a misspelt code does not compile
    const misspelt: NodeErrorCode = 'ERR_SOCKET_BAD_PROT';
    // @ts-expect-error nor does it as nodeError's argument
    expect(() => nodeError(TypeError, 'ERR_INVALID_ARG_TYP', 'x')).not.toThrow();
    expect(NODE_ERROR_CODES).not.toContain(misspelt);
  });

  it('system errors and BywayErrors take only the codes of their unions', () => {
    const ok: SystemErrorCode = 'ECONNRESET';
    expect(systemError(ok, 'read').errno).toBe(-104);
    // @ts-expect-error a misspelt system code does not compile
    const misspelt: SystemErrorCode = 'ECONNRESTE';
    // @ts-expect-error nor as systemError's argument
    expect(systemError('ECONREFUSED', 'connect').code).toBe('ECONREFUSED');
    // @ts-expect-error an ERR_ code is not a system code
    expect(uvSystemError('ERR_SOCKET_BAD_PORT', 'listen', '0.0.0.0', 1).code).toBe('ERR_SOCKET_BAD_PORT');
    // @ts-expect-error a BywayError's code must be one of the union, system, Node's or byway's own
    expect(new BywayError('ERR_DRIVER_CLOSD', 'x').code).toBe('ERR_DRIVER_CLOSD');
    const codes: BywayErrorCode[] = ['EADDRINUSE', 'ERR_INVALID_ARG_VALUE', 'ERR_DRIVER_CLOSED'];
    for (const c of codes) expect(new BywayError(c, 'x').code).toBe(c);
    expect(Object.keys(SYSTEM_ERRORS)).not.toContain(misspelt);
  });

  it('the system error table is libuv\'s, as Node knows it: errno and description for every code', () => {
    const byName = new Map<string, [number, string]>();
    for (const [errno, [name, description]] of getSystemErrorMap()) byName.set(name, [errno, description]);
    for (const [code, [errno, description]] of Object.entries(SYSTEM_ERRORS)) {
      // ENOTFOUND is Node's name for libuv's EAI_NONAME (dns.lookup's errors, which byway passes on).
      const uv = byName.get(code === 'ENOTFOUND' ? 'EAI_NONAME' : code);
      expect(uv, code).toEqual([errno, description]);
    }
  });

  it('every code has one table: no code in two of them, and an errno from the kernel maps to its code', () => {
    const all = [...Object.keys(SYSTEM_ERRORS), ...NODE_ERROR_CODES, ...BYWAY_ERROR_CODES];
    expect(new Set(all).size).toBe(all.length);
    for (const c of all) expect(isBywayErrorCode(c)).toBe(true);
    expect(isBywayErrorCode('ERR_NO_SUCH_THING')).toBe(false);
    expect(systemCodeOf('ECONNRESET')).toBe('ECONNRESET');
    expect(systemCodeOf('EOPNOTSUPP')).toBe('ENOTSUP');
    expect(systemCodeOf('EWHATEVER', 19)).toBe('ENODEV');
    expect(systemCodeOf(undefined, -98)).toBe('EADDRINUSE');
    expect(systemCodeOf('ESRCH', 3)).toBe('EIO'); // outside the table: the fallback
  });

  it('the misuse errors thrown by the API carry codes of the union', () => {
    const env = bypassEnv();
    try {
      const seen: string[] = [];
      const grab = (fn: () => unknown): void => {
        try {
          fn();
        } catch (e) {
          seen.push((e as { code: string }).code);
        }
      };
      grab(() => env.client.net.createConnection({ port: 70000, host: '10.0.0.2' }));
      grab(() => env.client.dgram.createSocket('udp5' as 'udp4'));
      grab(() => env.client.net.createConnection({ host: '10.0.0.2' } as never));
      const s = env.client.dgram.createSocket('udp4');
      grab(() => s.send('x', 0, 5, 80, '10.0.0.2'));
      s.close();
      expect(seen).toEqual(['ERR_SOCKET_BAD_PORT', 'ERR_SOCKET_BAD_TYPE', 'ERR_MISSING_ARGS', 'ERR_BUFFER_OUT_OF_BOUNDS']);
      for (const code of seen) expect(NODE_ERROR_CODES).toContain(code);
    } finally {
      env.close();
    }
  });

  it('byway\'s own errors carry codes of the union', () => {
    const [a] = memoryLink();
    const d = pcap(a, { sink: () => {} });
    d.close();
    let code: unknown;
    try {
      d.txReserve(60);
    } catch (e) {
      code = (e as BywayError).code;
    }
    expect(code).toBe('ERR_DRIVER_CLOSED');
    expect(isBywayErrorCode(code)).toBe(true);
  });
});
