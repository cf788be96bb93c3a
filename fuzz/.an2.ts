import { readFileSync } from 'node:fs';
import { decodeRecords } from './lib/records.js';
import { buildRxWorld, fixFrame } from './targets/stack.js';
const input = new Uint8Array(readFileSync(process.argv[2]!));
const recs = decodeRecords(input);
const { w } = buildRxWorld();
const DELAYS = [0, 0, 1, 10, 200, 1000, 5000, 65_000];
let calls = 0;
for (const [i, r] of recs.entries()) {
  w.advance(DELAYS[r.tag & 7]!);
  w.inject(fixFrame(r.data, r.tag, [...w.tracks.values()]));
  if (i === 1) {
    for (const c of w.a.tcp!.connections()) {
      const anyc = c as any;
      const orig = anyc.onTimer.bind(c);
      anyc.onTimer = (now: number) => {
        const snap = () => ['timerAt','heapAt','rtoAt','delackAt','persistAt','keepaliveAt','closeAt','tlpAt','reoAt'].map(k => `${k}=${anyc[k]}`).join(' ');
        if (calls < 6) console.log(`onTimer ${c.localPort}/${c.remotePort} ${c.state} now=${now} before: ${snap()}`);
        orig(now);
        if (calls < 6) console.log(`   after: ${snap()} mss=${c.info().sndMss} unacked=${c.info().unacked} sndWnd=${c.info().sndWnd} cwnd=${c.info().cwnd}`);
        calls++;
      };
    }
  }
}
console.log('calls', calls);
