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

  it('--address with IPv6 (with and without --workers): a bad one is refused before anything starts, with the reason', async () => {
    const cases: Array<[string, string]> = [
      ['fd00::2', "BYWAY_ADDRESS: expected an address with its prefix length ('10.0.0.2/24' or 'fd00::2/64'), or several separated by commas; got 'fd00::2'"],
      ['10.0.0.2/24,fd00::2/129', "BYWAY_ADDRESS: expected an IPv6 prefix length from 0 to 128; got 'fd00::2/129'"],
      ['ff02::1/64', "BYWAY_ADDRESS: expected a unicast IPv6 address byway can hold, not multicast; got 'ff02::1/64'"],
    ];
    for (const [address, message] of cases) {
      for (const workers of [[], ['--workers', '2']]) {
        errors.length = 0;
        expect(await run([...workers, '--driver', 'af-packet:lo', '--address', address, '--', '/nonexistent/byway-test-cmd'])).toBe(2);
        expect(errors.join('')).toContain(message);
      }
    }
  });

  it('a command that cannot be started: 127, with the reason', async () => {
    expect(await run(['--workers', '2', '--no-control', '--driver', 'af-packet:lo', ...base, '--', '/nonexistent/byway-test-cmd'])).toBe(127);
    expect(errors.join('')).toContain('cannot start /nonexistent/byway-test-cmd: spawn /nonexistent/byway-test-cmd ENOENT; ending the workers');
  });
});
