/**
 * glibc's trim threshold, raised when the native addon loads (drivers/native/malloc-tuning.ts): the environment
 * variable's forms (a byte count, off, 0, garbage), what the addon's answer means, and, through the real addon in
 * child processes, that loading it applies the default and that BYWAY_MALLOC_TRIM_THRESHOLD=off keeps glibc's. The
 * effect on receive (page faults per MiB, goodput) is measured in bench/rx-bulk-veth.ts, not here.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { applyMallocTuning, DEFAULT_MALLOC_TRIM_THRESHOLD } from '../../drivers/native/malloc-tuning.js';
import { describeNative } from '../helpers/netns.js';

/** A stand-in addon that records what it was asked and answers `answer`. */
function fake(answer: number): { calls: number[]; mallocTrimThreshold(bytes: number): number } {
  const calls: number[] = [];
  return { calls, mallocTrimThreshold: (b) => (calls.push(b), answer) };
}

describe('applyMallocTuning', () => {
  it('sets 64 MiB by default, and the byte count asked for', () => {
    const a = fake(1);
    expect(applyMallocTuning(a, {})).toEqual({ trimThreshold: DEFAULT_MALLOC_TRIM_THRESHOLD, applied: true, reason: `glibc's M_TRIM_THRESHOLD set to ${64 * 1048576} bytes` });
    const b = fake(1);
    expect(applyMallocTuning(b, { BYWAY_MALLOC_TRIM_THRESHOLD: ' 1048576 ' }).trimThreshold).toBe(1048576);
    expect([a.calls, b.calls]).toEqual([[DEFAULT_MALLOC_TRIM_THRESHOLD], [1048576]]);
  });

  it('off and 0 leave glibc alone', () => {
    for (const v of ['off', '0']) {
      const a = fake(1);
      const r = applyMallocTuning(a, { BYWAY_MALLOC_TRIM_THRESHOLD: v });
      expect(r.applied).toBe(false);
      expect(r.reason).toContain(`BYWAY_MALLOC_TRIM_THRESHOLD=${v}`);
      expect(a.calls).toEqual([]);
    }
  });

  it('a value that is no byte count is ignored with a warning, never passed on', async () => {
    const warnings: string[] = [];
    let onWarning = (_w: Error): void => undefined;
    // emitWarning delivers on a later tick: resolved by the fourth warning of ours, not by a timer.
    const four = new Promise<void>((resolve) => {
      onWarning = (w) => {
        if (/not a byte count/.test(w.message) && warnings.push(w.message) === 4) resolve();
      };
    });
    process.on('warning', onWarning);
    try {
      for (const v of ['-5', '1e6', '64M', '2147483648']) {
        const a = fake(1);
        const r = applyMallocTuning(a, { BYWAY_MALLOC_TRIM_THRESHOLD: v });
        expect(r.applied).toBe(false);
        expect(a.calls).toEqual([]);
      }
      await four;
      expect(warnings.map((w) => /BYWAY_MALLOC_TRIM_THRESHOLD="([^"]*)"/.exec(w)?.[1])).toEqual(['-5', '1e6', '64M', '2147483648']);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("reports the addon's refusal and a C library other than glibc", () => {
    expect(applyMallocTuning(fake(0), {})).toMatchObject({ applied: false, reason: expect.stringMatching(/refused/) });
    expect(applyMallocTuning(fake(-1), {})).toMatchObject({ applied: false, reason: 'not glibc: nothing done' });
  });
});

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

describeNative('loading the addon', () => {
  /** mallocTuning() in a child process that loads the addon through loadNative(), with `env` added. */
  function tuningIn(env: Record<string, string>): Record<string, unknown> {
    const code = `import { loadNative, mallocTuning } from './drivers/native/index.ts';
      const before = mallocTuning().applied; loadNative(); console.log(JSON.stringify({ before, ...mallocTuning() }));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  }

  it('applies the default at the first load, and not with BYWAY_MALLOC_TRIM_THRESHOLD=off', () => {
    const { BYWAY_MALLOC_TRIM_THRESHOLD: _, ...rest } = process.env;
    void _;
    expect(tuningIn({ ...(rest as Record<string, string>) })).toMatchObject({ before: false, applied: true, trimThreshold: DEFAULT_MALLOC_TRIM_THRESHOLD });
    expect(tuningIn({ BYWAY_MALLOC_TRIM_THRESHOLD: 'off' })).toMatchObject({ before: false, applied: false, reason: expect.stringMatching(/default kept/) });
  }, 60_000);

  it('the addon refuses a byte count out of range with a TypeError', () => {
    const r = spawnSync(process.execPath, ['-e', `const a = require(${JSON.stringify(join(ROOT, 'drivers/native/build/Release/byway_native.node'))});
      try { a.mallocTrimThreshold(-1); console.log('no throw'); } catch (e) { console.log(e.name + ' ' + e.code); }
      console.log(a.mallocTrimThreshold(1 << 20));`], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stdout.trim().split('\n')).toEqual(['TypeError ERR_INVALID_ARG_TYPE', '1']);
  });
});
