#!/usr/bin/env node
// Builds the optional native addon (drivers/native) with node-gyp during `npm install`.
// A failed build is not fatal: the pure-TypeScript parts still work, and asking for a native driver then throws
// ERR_NATIVE_UNAVAILABLE with the reason recorded here (drivers/native/build/BUILD_FAILED).
// node-gyp is npm's own copy (npm_config_node_gyp during install, else the one beside npm); the Node headers come
// from the running Node's prefix when they are installed there, so no download is needed.
import { existsSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'drivers', 'native');
if (!existsSync(join(dir, 'binding.gyp'))) process.exit(0);

function findGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const prefix = join(dirname(process.execPath), '..');
  for (const p of [
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(prefix, 'lib', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]) {
    if (existsSync(p)) return p;
  }
  return null;
}

const gyp = findGyp();
const cmd = gyp ? process.execPath : 'node-gyp';
const args = gyp ? [gyp, 'rebuild'] : ['rebuild'];
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
rmSync(join(dir, 'build', 'BUILD_FAILED'), { force: true });
const r = spawnSync(cmd, args, { cwd: dir, stdio: 'inherit', timeout: 300_000 });
if (r.status !== 0) {
  const why = r.error ? String(r.error) : `node-gyp exited with ${r.status}`;
  mkdirSync(join(dir, 'build'), { recursive: true });
  writeFileSync(join(dir, 'build', 'BUILD_FAILED'), why + '\n');
  console.warn(`byway: native addon not built (${why}); native drivers will be unavailable.`);
}
