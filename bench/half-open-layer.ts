/**
 * What the half-open SYN layer costs a fanout worker per received frame (issue #19, src/cluster/strays.ts
 * HalfOpens): the same receive loop through one more RelayDriver whose match is `HalfOpens.diverts` with no list
 * kept (every frame a worker receives goes through it), against the loop without it. The inner driver hands out one
 * prebuilt frame per sink call, 64 per receive, so the figure is the layer's own CPU, not a driver's. Alternated
 * rounds after a warm-up; median and min-max of `--rounds`, in ns per frame.
 *
 *   node --import tsx bench/half-open-layer.ts [--rounds 9] [--frames 4000000]
 */
import { parseArgs } from 'node:util';
import { relay } from '../drivers/middleware/relay.js';
import type { FrameDriver, FrameSink } from '../drivers/types.js';
import { HalfOpens } from '../src/cluster/strays.js';
import { median } from './lib/stats.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' }, frames: { type: 'string', default: '4000000' } } });
const rounds = Number(values.rounds);
const frames = Number(values.frames);

const frame = new Uint8Array(1514);
frame.set([0x08, 0x00], 12);
frame[23] = 6;
const source = {
  caps: {},
  stats: {},
  hwAddress: new Uint8Array(6),
  receive(_now: number, max: number, sink: FrameSink): number {
    for (let i = 0; i < max; i++) sink(frame, 0);
    return max;
  },
  txReserve: () => null,
  txCommit() {},
  flush() {},
  setReadyCallback() {},
  close() {},
} as unknown as FrameDriver;
const halfOpens = new HalfOpens({ workers: 2 }, new Uint8Array(6), () => {});
const layered = relay(source, { match: (f) => halfOpens.diverts(f), divert: true, relay: (f) => halfOpens.divert(f) });

let seen = 0;
const sink: FrameSink = (f) => {
  seen += f.length & 1;
};
function nsPerFrame(d: FrameDriver, n: number): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n / 64; i++) d.receive(0, 64, sink);
  return Number(process.hrtime.bigint() - t) / n;
}

for (let w = 0; w < 3; w++) {
  nsPerFrame(source, frames / 2);
  nsPerFrame(layered, frames / 2);
}
const direct: number[] = [];
const withLayer: number[] = [];
for (let r = 0; r < rounds; r++) {
  direct.push(nsPerFrame(source, frames));
  withLayer.push(nsPerFrame(layered, frames));
}
const show = (x: number[]): string => `${median(x).toFixed(2)} (${Math.min(...x).toFixed(2)}-${Math.max(...x).toFixed(2)})`;
console.log(`ns per frame, median (min-max) of ${rounds}: without the layer ${show(direct)}, with it ${show(withLayer)}`);
