#!/usr/bin/env node
// Enforces the one-way layering (wire <- protocol cores <- stack <- runtime <- API <- CLI) by reading every
// import of every source file, and that the stack core (src/stack/core.ts) builds no TCP of its own. Exit 1 with one
// line per violation. Test files (*.test.ts) are exempt.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const rank = { wire: 0, core: 1, drivers: 1, stack: 2, runtime: 3, api: 4, cli: 5 };

function layerOf(rel) {
  if (rel.startsWith('protocols/')) {
    const base = rel.split('/').pop();
    return rel.startsWith('protocols/util/') || /^(wire|address)[\w-]*\.ts$/.test(base) ? 'wire' : 'core';
  }
  if (rel === 'drivers/types.ts') return 'wire'; // the FrameDriver contract is a leaf everyone may see
  if (rel.startsWith('drivers/')) return 'drivers';
  if (rel.startsWith('src/stack/')) return 'stack';
  if (rel.startsWith('src/runtime/')) return 'runtime';
  if (rel.startsWith('src/cli/')) return 'cli';
  if (rel.startsWith('src/')) return 'api';
  return null;
}

// Layers whose code must also run in a browser or a worker.
const noNode = new Set(['wire', 'core', 'stack']);

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

const importRe = /(?:^|\n)\s*(?:import|export)\s[^'"`]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
const problems = [];
for (const dir of ['protocols', 'drivers', 'src']) {
  let files;
  try { files = [...walk(join(root, dir))]; } catch { continue; }
  for (const file of files) {
    const rel = relative(root, file);
    const from = layerOf(rel);
    if (!from) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(importRe)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec.startsWith('node:') || ['fs', 'net', 'dgram', 'os', 'path', 'crypto', 'events', 'stream', 'child_process'].includes(spec)) {
        if (noNode.has(from)) problems.push(`${rel}: ${from} code imports '${spec}' (protocols/ and the stack core import no node: module)`);
        continue;
      }
      if (!spec.startsWith('.')) {
        if (noNode.has(from)) problems.push(`${rel}: ${from} code imports package '${spec}'`);
        continue;
      }
      const target = relative(root, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
      const to = layerOf(target);
      if (!to) { problems.push(`${rel}: imports '${spec}' outside the layered folders`); continue; }
      if (from === 'drivers' && to !== 'wire' && to !== 'drivers' && to !== 'core') {
        problems.push(`${rel}: a driver imports ${to} code '${spec}' (drivers see only protocols/ and drivers/)`);
      } else if (to === 'drivers' && from !== 'drivers' && from !== 'api' && from !== 'cli') {
        problems.push(`${rel}: ${from} code imports a driver '${spec}' (the stack reaches drivers only through FrameDriver)`);
      } else if (rank[to] > rank[from] && !(from === 'drivers' && to === 'drivers')) {
        problems.push(`${rel}: ${from} code imports ${to} code '${spec}' (dependencies point one way)`);
      } else if (rel === 'src/stack/core.ts' && (target.startsWith('protocols/tcp/') || target === 'src/stack/tcp-transport.ts' || target === 'src/stack/gro.ts')) {
        // Issue #16's seam: transports plug into the core through `register`; only the composition (stack.ts) builds TCP.
        problems.push(`${rel}: the stack core imports TCP '${spec}' (TCP plugs in as a Transport: see src/stack/stack.ts)`);
      }
    }
  }
}
if (problems.length) {
  console.error(problems.join('\n'));
  console.error(`check-layers: ${problems.length} violation(s)`);
  process.exit(1);
}
console.log('check-layers: ok');
