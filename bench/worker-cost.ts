/**
 * What a worker costs (issue #19, the choice between worker threads and cluster processes): the time to start N
 * empty workers until each has run its first line, and the resident memory they add, for worker_threads and for
 * child processes (node:child_process.fork, as node:cluster forks). Median of `--rounds`.
 *
 *   node --import tsx bench/worker-cost.ts [--workers 2] [--rounds 5]
 */
import { fork } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { median } from './lib/stats.js';

const { values } = parseArgs({ options: { workers: { type: 'string', default: '2' }, rounds: { type: 'string', default: '5' } } });
const N = Number(values.workers);
const ROUNDS = Number(values.rounds);

const rssKb = (pid: number | 'self'): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

async function threads(): Promise<{ ms: number; rssMb: number }> {
  const before = rssKb('self');
  const t0 = performance.now();
  const ws = Array.from({ length: N }, () => new Worker(`require('node:worker_threads').parentPort.postMessage('up'); setInterval(() => {}, 1e6);`, { eval: true, execArgv: [] }));
  await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
  const ms = performance.now() - t0;
  const rssMb = (rssKb('self') - before) / 1024;
  await Promise.all(ws.map((w) => w.terminate()));
  return { ms, rssMb };
}

async function processes(): Promise<{ ms: number; rssMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'byway-wc-'));
  const file = join(dir, 'child.cjs');
  writeFileSync(file, "process.send('up'); setInterval(() => {}, 1e6);");
  const t0 = performance.now();
  const cs = Array.from({ length: N }, () => fork(file, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], execArgv: [] }));
  await Promise.all(cs.map((c) => new Promise((r) => c.once('message', r))));
  const ms = performance.now() - t0;
  const rssMb = cs.reduce((a, c) => a + rssKb(c.pid!), 0) / 1024;
  for (const c of cs) c.kill();
  return { ms, rssMb };
}

const t: Array<{ ms: number; rssMb: number }> = [];
const p: Array<{ ms: number; rssMb: number }> = [];
for (let i = 0; i < ROUNDS; i++) {
  t.push(await threads());
  p.push(await processes());
}
const show = (name: string, xs: Array<{ ms: number; rssMb: number }>): void =>
  console.log(`${name}: ${N} started in ${median(xs.map((x) => x.ms)).toFixed(1)} ms (median of ${ROUNDS}), +${median(xs.map((x) => x.rssMb)).toFixed(1)} MB resident`);
show('worker threads', t);
show('processes (fork)', p);
