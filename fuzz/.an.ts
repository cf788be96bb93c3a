import { readFileSync } from 'node:fs';
import { decodeRecords } from './lib/records.js';
import { buildRxWorld, fixFrame } from './targets/stack.js';
import { checkStack } from './lib/invariants.js';
const input = new Uint8Array(readFileSync(process.argv[2]!));
const recs = decodeRecords(input);
const { w } = buildRxWorld();
const DELAYS = [0, 0, 1, 10, 200, 1000, 5000, 65_000];
for (const r of recs) {
  console.log('rec tag', r.tag.toString(16), 'len', r.data.length, Buffer.from(r.data.subarray(0, 60)).toString('hex'));
  let t = performance.now();
  w.advance(DELAYS[r.tag & 7]!);
  console.log('  advance', DELAYS[r.tag & 7], (performance.now() - t).toFixed(1), 'ms');
  t = performance.now();
  const f = fixFrame(r.data, r.tag, [...w.tracks.values()]);
  console.log('  fixed', Buffer.from(f.subarray(0, 60)).toString('hex'));
  w.inject(f);
  console.log('  inject', (performance.now() - t).toFixed(1), 'ms', 'emitted', w.emitted);
  t = performance.now();
  checkStack(w.a, w.now);
  console.log('  check', (performance.now() - t).toFixed(1), 'ms', [...w.a.tcp!.connections()].map(c => `${c.localPort}/${c.remotePort}:${c.state}`).join(' '));
}
