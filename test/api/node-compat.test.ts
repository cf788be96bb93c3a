/**
 * Node.js's own test-net-* and test-dgram-* tests (the node-compat suite, kept outside the repository) run against
 * this checkout's build with `run.mjs --strict`: every test must pass, as it does on the real node:net/node:dgram.
 *
 * The suite is found at $BYWAY_NODE_COMPAT, else ../shared/node-compat next to the repository, else
 * /work/shared/node-compat; without one the test skips and says why (the suite is not part of the repository,
 * so a clone without it is not a failure). dist/ is rebuilt first when a source file is newer than it, because
 * the runner loads byway through package.json.
 */
import { describe, expect, it } from 'vitest';
import { requirePrivileged } from '../helpers/netns.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function findSuite(): string | undefined {
  const candidates = [process.env.BYWAY_NODE_COMPAT, resolve(repo, '../shared/node-compat'), '/work/shared/node-compat'];
  for (const c of candidates) if (c && existsSync(join(c, 'run.mjs'))) return c;
  return undefined;
}

/** The newest modification time of the TypeScript sources that dist/ is built from. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function buildIfStale(): void {
  const entry = join(repo, 'dist/src/index.js');
  const built = existsSync(entry) ? statSync(entry).mtimeMs : 0;
  const sources = Math.max(...['src', 'protocols', 'drivers'].map((d) => newestSource(join(repo, d))));
  if (built >= sources) return;
  const r = spawnSync('npm', ['run', 'build'], { cwd: repo, encoding: 'utf8', timeout: 90_000 });
  if (r.status !== 0) throw new Error(`npm run build failed: ${r.stderr || r.stdout}`);
}

const suite = findSuite();
const reason = 'node-compat suite not found ($BYWAY_NODE_COMPAT, ../shared/node-compat, /work/shared/node-compat)';

describe("Node's own net/dgram tests on byway", () => {
  // In CI the suite must be there: a missing one fails rather than skipping, so CI cannot pass without running it.
  if (suite === undefined && requirePrivileged) it('finds the suite (BYWAY_REQUIRE_PRIVILEGED=1)', () => void expect.fail(reason));
  it.skipIf(suite === undefined)(`all pass with run.mjs --strict${suite === undefined ? ` (skipped: ${reason})` : ''}`, () => {
    buildIfStale();
    const out = mkdtempSync(join(tmpdir(), 'byway-node-compat-'));
    try {
      const json = join(out, 'results.json');
      const r = spawnSync(process.execPath, [join(suite!, 'run.mjs'), '--strict', '--jobs', '2', '--json', json], {
        cwd: repo,
        encoding: 'utf8',
        timeout: 150_000,
        env: { ...process.env, BYWAY_ROOT: repo },
      });
      expect(existsSync(json), `run.mjs wrote no results (status ${r.status}, signal ${r.signal}): ${r.stderr}`).toBe(true);
      const results = JSON.parse(readFileSync(json, 'utf8')) as { passed: number; failed: number; results: { test: string; status: string; error?: string }[] };
      const failures = results.results.filter((t) => t.status !== 'PASS').map((t) => `${t.status} ${t.test}: ${t.error ?? ''}`);
      expect(failures).toEqual([]);
      expect(results.passed).toBe(readdirSync(join(suite!, 'tests')).filter((f) => /^test-.*\.js$/.test(f)).length);
      expect(r.status).toBe(0); // --strict: exit 1 on any failure
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 240_000);
});
