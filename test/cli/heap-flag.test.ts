import { describe, expect, it } from 'vitest';
import { HEAP_FLAG, isNode, withHeapFlag } from '../../src/cli/heap-flag.js';

const EXEC = '/opt/node/bin/node20';

describe('byway run: the heap flag for a Node program', () => {
  it('is added first when the command is Node and nothing sizes the heap', () => {
    expect(withHeapFlag('node', ['app.js', '--port', '80'], {}, EXEC)).toEqual([HEAP_FLAG, 'app.js', '--port', '80']);
    expect(withHeapFlag('/usr/bin/nodejs', ['-e', '1'], {}, EXEC)).toEqual([HEAP_FLAG, '-e', '1']);
    expect(withHeapFlag(EXEC, ['--import', 'tsx', 'app.ts'], {}, EXEC)).toEqual([HEAP_FLAG, '--import', 'tsx', 'app.ts']);
  });

  it('is not added to another command (a shell, npm, a launcher)', () => {
    for (const c of ['npm', 'sh', '/bin/bash', 'nodemon', 'node-gyp', 'deno', './node_modules/.bin/next']) {
      expect(isNode(c, EXEC), c).toBe(false);
      expect(withHeapFlag(c, ['start'], {}, EXEC)).toEqual(['start']);
    }
  });

  it("leaves a program's own heap size alone, in its arguments or in NODE_OPTIONS", () => {
    for (const own of ['--max-old-space-size=32', '--max_old_space_size=32', '--initial-old-space-size=16', '--max-semi-space-size=8', '--initial-heap-size=10']) {
      expect(withHeapFlag('node', [own, 'app.js'], {}, EXEC), own).toEqual([own, 'app.js']);
      expect(withHeapFlag('node', ['app.js'], { NODE_OPTIONS: `--enable-source-maps ${own}` }, EXEC), own).toEqual(['app.js']);
    }
  });

  it('is off with BYWAY_HEAP=off (--no-heap-flag)', () => {
    expect(withHeapFlag('node', ['app.js'], { BYWAY_HEAP: 'off' }, EXEC)).toEqual(['app.js']);
    expect(withHeapFlag('node', ['app.js'], { BYWAY_HEAP: 'on' }, EXEC)).toEqual([HEAP_FLAG, 'app.js']);
  });

  it('is a flag this Node accepts on its command line (it would refuse an unknown one)', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, [HEAP_FLAG, '-p', 'process.execArgv[0]'], { encoding: 'utf8' });
    expect(out.trim()).toBe(HEAP_FLAG);
    expect(() => execFileSync(process.execPath, ['--initial-old-space-sise=64', '-p', '1'], { stdio: 'ignore' })).toThrow();
  });
});
