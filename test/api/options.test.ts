/** createStack options that reach the runtime: checked at creation, with a stable code. */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack } from '../../src/api/stack.js';

describe('createStack options', () => {
  it('rejects a negative or non-numeric spinMs, and runs with spinMs 0 (no spin after a burst)', async () => {
    const [da, db] = memoryLink();
    expect(() => createStack({ driver: da, address: '10.0.0.1/24', spinMs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => createStack({ driver: da, address: '10.0.0.1/24', spinMs: Number.NaN })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const a = createStack({ driver: da, address: '10.0.0.1/24', spinMs: 0 });
    const b = createStack({ driver: db, address: '10.0.0.2/24' });
    try {
      const reply = await a.ping('10.0.0.2');
      expect(reply.from).toBe('10.0.0.2');
    } finally {
      a.close();
      b.close();
    }
  });
});
