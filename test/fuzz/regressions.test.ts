/**
 * Every saved fuzz input replays through its target: files under fuzz/crashes/ (found by `npm run fuzz`) and
 * fuzz/regressions/ (kept reproducers). A file is named <target>-<anything>.bin. Inputs listed in
 * fuzz/regressions/known-failures.json are bugs reported to their owner: they are expected to fail until fixed,
 * and the test says so when one starts passing, so the entry gets removed.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runOnce } from '../../fuzz/engine.js';
import { targetForFile } from '../../fuzz/targets/index.js';

const root = join(import.meta.dirname, '../../fuzz');
const dirs = ['crashes', 'regressions'];
const known = JSON.parse(readFileSync(join(root, 'regressions/known-failures.json'), 'utf8')) as Record<string, { bug: string; match: string }>;

const files: { dir: string; name: string }[] = [];
for (const d of dirs) {
  for (const name of readdirSync(join(root, d))) if (name.endsWith('.bin')) files.push({ dir: d, name });
}

describe('fuzz regressions', () => {
  it('the crash and regression folders exist with their README, and known failures name real files', () => {
    for (const d of dirs) expect(existsSync(join(root, d, 'README.md'))).toBe(true);
    for (const k of Object.keys(known)) expect(files.some((f) => f.name === k)).toBe(true);
  });

  for (const f of files) {
    const target = targetForFile(f.name);
    const expectedToFail = known[f.name];
    it(`${f.dir}/${f.name} ${expectedToFail ? 'still fails (a known bug, see known-failures.json)' : 'passes'}`, () => {
      expect(target, `no target named by ${f.name}`).toBeDefined();
      const r = runOnce(target!, new Uint8Array(readFileSync(join(root, f.dir, f.name))));
      if (expectedToFail) {
        expect(r.error, `${f.name} passes now: remove it from known-failures.json`).toBeDefined();
        expect(r.error!.split('\n')[0]).toMatch(new RegExp(expectedToFail.match));
      } else {
        expect(r.error).toBeUndefined();
      }
    });
  }
});
