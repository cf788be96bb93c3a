#!/usr/bin/env node
// Builds the optional native addon (drivers/native) with node-gyp during `npm install`.
// A failed build is not fatal: the pure-TypeScript parts still work, and asking for a native driver then throws
// ERR_NATIVE_UNAVAILABLE with the reason recorded here.
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'drivers', 'native');
if (!existsSync(join(dir, 'binding.gyp'))) process.exit(0);
const gyp = process.env.npm_config_node_gyp;
const cmd = gyp ? process.execPath : 'node-gyp';
const args = gyp ? [gyp, 'rebuild'] : ['rebuild'];
const r = spawnSync(cmd, args, { cwd: dir, stdio: 'inherit' });
if (r.status !== 0) {
  const why = r.error ? String(r.error) : `node-gyp exited with ${r.status}`;
  mkdirSync(join(dir, 'build'), { recursive: true });
  writeFileSync(join(dir, 'build', 'BUILD_FAILED'), why + '\n');
  console.warn(`byway: native addon not built (${why}); native drivers will be unavailable.`);
}
