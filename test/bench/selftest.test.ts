/**
 * bench/selftest.ts (the harness's pure parts: percentiles, per-round ratios, the report's tables, the capacity
 * search) is a plain script, since bench/ is outside vitest's include list: run it here so that CI runs it too.
 * It exits 1 at its first failed assertion, with the assertion on stderr.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

it('bench/selftest.ts passes', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/selftest.ts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/bench selftest: ratios, floor, jitter ok/);
}, 70_000);
