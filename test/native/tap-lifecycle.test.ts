/**
 * A stack on a TAP device with nothing active lets the process exit, as an idle node:net does (issue #14): the
 * driver's readiness watch does not hold the event loop, only active sockets do. Runs in a child process, since
 * the event loop's liveness cannot be seen from inside vitest's worker; the device lives in a fresh namespace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NetLab, describePrivileged, uniqueName } from '../helpers/netns.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describePrivileged(
  'TAP stack lifecycle',
  () => {
    const lab = new NetLab();
    let ns = '';
    let dir = '';
    beforeAll(() => {
      ns = lab.addNetns();
      dir = mkdtempSync(join(tmpdir(), 'byway-tap-life-'));
    });
    afterAll(() => {
      lab.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    it('a listening server on a TAP stack holds the process; once it is closed, the idle stack lets it exit', () => {
      const file = join(dir, 'case.mts');
      writeFileSync(
        file,
        `
import { createStack } from ${JSON.stringify(join(repo, 'src/api/stack.ts'))};
import { openTap } from ${JSON.stringify(join(repo, 'drivers/tap/index.ts'))};
const s = createStack({ driver: openTap({ name: ${JSON.stringify(uniqueName('bwl'))}, netns: ${JSON.stringify(ns)} }), address: '10.78.1.2/24' });
const server = s.net.createServer().listen(80, () => {
  console.log('listening');
  // An unref'd timer runs only while something else holds the process: the listening server.
  setTimeout(() => {
    console.log('held by the server');
    server.close(() => console.log('closed'));
  }, 200).unref();
});
process.on('exit', () => console.log('exit'));
`,
      );
      const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: repo, encoding: 'utf8', timeout: 20_000 });
      expect(r.signal, `held open: ${r.stdout}${r.stderr}`).toBeNull();
      expect(r.stdout.split('\n').filter(Boolean)).toEqual(['listening', 'held by the server', 'closed', 'exit']);
    });
  },
  { native: true },
);
