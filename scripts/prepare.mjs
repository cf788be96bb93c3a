#!/usr/bin/env node
/**
 * `prepare`: build dist/ (tsc) so byway works wherever it is installed: a clone after `npm install`, a git
 * dependency (npm installs devDependencies for it), or a `file:` dependency linked to a folder that was never
 * installed, where TypeScript is missing: then byway's own devDependencies are installed in its folder first
 * (scripts skipped), and the build runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

if (!existsSync(tsc)) {
  console.error(`byway prepare: TypeScript is not installed in ${root}; installing byway's devDependencies there to build dist/`);
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];
  const status = run(npm[0], [...npm[1], 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--include=dev']);
  if (status !== 0 || !existsSync(tsc)) {
    console.error(`byway prepare: could not install TypeScript in ${root}: run \`npm install\` there, then install byway again`);
    process.exit(1);
  }
}
process.exit(run(process.execPath, [tsc, '-p', 'tsconfig.build.json']));
