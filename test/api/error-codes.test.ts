/**
 * Error codes are a closed union type (issue #16): a misspelt code does not compile. The `@ts-expect-error` lines
 * are checked by `npm run lint` (tsc over test/): if a misspelt code were accepted, the directive would be unused
 * and tsc would fail. At run time, the codes byway's misuse errors carry are the union's.
 */
import { describe, expect, it } from 'vitest';
import { NODE_ERROR_CODES, nodeError, type NodeErrorCode } from '../../src/api/errors.js';
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
});
