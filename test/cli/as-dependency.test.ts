/**
 * byway used as a dependency (issue #13, "Using byway as a dependency"): a fresh clone of this repository, never
 * installed or built, named as `"byway": "file:..."` by another package; `npm install` there must leave a byway
 * whose package entry point imports (prepare builds dist/, installing byway's own devDependencies if the folder
 * has none). Needs git, npm and the npm registry; bounded in time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..', '..');

describe('byway as a file: dependency', () => {
  it('npm install in a consumer of a fresh clone builds dist/ and the package imports', () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-dep-'));
    try {
      const clone = join(dir, 'byway');
      execFileSync('git', ['clone', '--quiet', '--depth', '1', `file://${repo}`, clone], { stdio: 'pipe', timeout: 60_000 });
      expect(existsSync(join(clone, 'dist'))).toBe(false);
      const app = join(dir, 'app');
      execFileSync('mkdir', [app]);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', dependencies: { byway: 'file:../byway' } }));
      execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: app, stdio: 'pipe', timeout: 240_000 });
      expect(existsSync(join(clone, 'dist', 'src', 'index.js'))).toBe(true);
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', "const b = await import('byway'); console.log(typeof b.createStack, typeof b.tap)"], { cwd: app, encoding: 'utf8', timeout: 30_000 });
      expect(out.trim()).toBe('function function');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 360_000);
});
