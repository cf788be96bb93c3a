/**
 * `byway run --workers` refuses what it cannot run before starting anything (exit code 2 and a line naming the
 * problem), and a command that cannot be started ends the run with 127 instead of waiting for workers that never
 * came. No privileges needed: nothing here opens a driver.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/byway.js';

describe('byway run --workers: usage', () => {
  const errors: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    errors.length = 0;
  });
  const run = (args: string[]): Promise<number> => {
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (errors.push(String(chunk)), true));
    return main(['run', ...args]);
  };
  const base = ['--address', '10.0.0.2/24'];

  it('a driver the cluster does not use (raw IP), a bad count, --restart without --workers: exit 2, nothing started', async () => {
    expect(await run(['--workers', '2', '--driver', 'raw-ip', ...base, '--', 'node', 'x.js'])).toBe(2);
    expect(errors.join('')).toMatch(/^byway: --workers needs --driver af-packet:IFNAME/m);
    for (const n of ['0', '65', '1.5', 'two']) {
      errors.length = 0;
      expect(await run(['--workers', n, '--driver', 'af-packet:lo', ...base, '--', 'node', 'x.js'])).toBe(2);
      expect(errors.join('')).toContain(`--workers must be an integer from 1 to 64, got '${n}'`);
    }
    errors.length = 0;
    expect(await run(['--restart', '--driver', 'af-packet:lo', ...base, '--', 'node', 'x.js'])).toBe(2);
    expect(errors.join('')).toMatch(/^byway: --restart goes with --workers/m);
  });

  it('a command that cannot be started: 127, with the reason', async () => {
    expect(await run(['--workers', '2', '--no-control', '--driver', 'af-packet:lo', ...base, '--', '/nonexistent/byway-test-cmd'])).toBe(127);
    expect(errors.join('')).toContain('cannot start /nonexistent/byway-test-cmd: spawn /nonexistent/byway-test-cmd ENOENT; ending the workers');
  });
});
