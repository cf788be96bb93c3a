/**
 * The stack's receive path in JS alone, no kernel: a driver that replays one prebuilt frame (Ethernet + IPv4 +
 * UDP, 64-byte payload, valid checksums) in batches, into a NetStack core with a UDP socket whose onMessage only
 * counts. Reports ns per frame (median of rounds), so a change to the per-frame
 * path can be A/B'd without the noise of the network or the scheduler.
 *
 *   node --expose-gc --import tsx bench/rx-micro.ts [--frames 2000000] [--rounds 7] [--size 64] [--driver replay|ring] [--json]
 *
 * --driver ring: the real NativeRingDriver (drivers/native/ring-driver.ts) over a fake addon whose rxBatch fills
 * the control block with descriptors of the same frame, so the JS side of a native driver's receive is included.
 */
import { NativeRingDriver } from '../drivers/native/ring-driver.js';
import { fakeAddon, fakeOpenInfo, RX_DESC } from '../test/helpers/fake-addon.js';
import { SOFTWARE_CHECKSUMS, newDriverStats, type DriverCapabilities, type FrameDriver, type FrameSink } from '../drivers/types.js';
import { checksum, pseudoHeaderSum, onesSum } from '../protocols/util/checksum.js';
import { parseCidr } from '../protocols/ipv4/address.js';
import { seededRng } from '../protocols/util/rng.js';
import { NetStack } from '../src/stack/stack.js';

function opt(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}
const total = Number(opt('--frames', '2000000'));
const rounds = Number(opt('--rounds', '7'));
const size = Number(opt('--size', '64'));

const MAC = new Uint8Array([2, 0, 0, 0, 0, 1]);
const PEER = new Uint8Array([2, 0, 0, 0, 0, 2]);
const SRC = 0x0a000002;
const DST = 0x0a000001;

function udpFrame(payloadLen: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + payloadLen);
  f.set(MAC, 0);
  f.set(PEER, 6);
  f[12] = 0x08;
  const ip = 14;
  f[ip] = 0x45;
  const tot = 20 + 8 + payloadLen;
  f[ip + 2] = tot >> 8;
  f[ip + 3] = tot & 0xff;
  f[ip + 8] = 64;
  f[ip + 9] = 17;
  new DataView(f.buffer).setUint32(ip + 12, SRC);
  new DataView(f.buffer).setUint32(ip + 16, DST);
  const hc = checksum(f, ip, ip + 20);
  f[ip + 10] = hc >> 8;
  f[ip + 11] = hc & 0xff;
  const u = ip + 20;
  f[u] = 0x30;
  f[u + 1] = 0x39; // 12345
  f[u + 2] = 0x23;
  f[u + 3] = 0x28; // 9000
  f[u + 4] = (8 + payloadLen) >> 8;
  f[u + 5] = (8 + payloadLen) & 0xff;
  f.fill(0x63, u + 8);
  let c = (~onesSum(f, u, f.length, pseudoHeaderSum(SRC, DST, 17, 8 + payloadLen))) & 0xffff;
  if (c === 0) c = 0xffff;
  f[u + 6] = c >> 8;
  f[u + 7] = c & 0xff;
  return f;
}

/** Replays `frame` from one shared buffer, like a ring driver hands out views into its memory. */
class ReplayDriver implements FrameDriver {
  readonly stats = newDriverStats();
  readonly caps: DriverCapabilities = { medium: 'ethernet', mtu: 1500, maxBatch: 64, checksum: SOFTWARE_CHECKSUMS };
  readonly hwAddress = MAC;
  remaining = 0;
  private readonly mem: ArrayBuffer;
  private readonly len: number;
  private readonly tx = new Uint8Array(2048);
  constructor(frame: Uint8Array) {
    this.mem = new ArrayBuffer(4096);
    new Uint8Array(this.mem).set(frame, 256);
    this.len = frame.length;
  }
  receive(_now: number, max: number, sink: FrameSink): number {
    const n = Math.min(max, this.remaining);
    for (let i = 0; i < n; i++) {
      this.stats.rxFrames++;
      sink(new Uint8Array(this.mem, 256, this.len));
    }
    this.remaining -= n;
    return n;
  }
  txReserve(len: number): Uint8Array | null {
    return this.tx.subarray(0, len);
  }
  txCommit(): void {}
  flush(): void {}
  pollAt(): number | undefined {
    return this.remaining > 0 ? 0 : undefined;
  }
  setReadyCallback(): void {}
  close(): void {}
}

/** A fake addon for NativeRingDriver: every rxBatch hands out `remaining` copies of one frame, 64 at most. */
function ringDriver(frame: Uint8Array): FrameDriver & { remaining: number } {
  const mem = new ArrayBuffer(1 << 16);
  new Uint8Array(mem).set(frame, 256);
  const maxBatch = 64;
  const info = fakeOpenInfo(mem, maxBatch, 64);
  const words = new Uint32Array(info.ctl);
  const state = { remaining: 0 };
  const take = (max: number): number => {
    const n = Math.min(max, state.remaining);
    for (let i = 0; i < n; i++) {
      words[RX_DESC + 2 * i] = 256;
      words[RX_DESC + 2 * i + 1] = frame.length;
    }
    state.remaining -= n;
    return n;
  };
  const native = fakeAddon({
    rxBatch: (_h, max) => take(max),
    rxWait: (_h, _us, max) => (state.remaining === 0 ? 0 : max ? take(max) : 1),
    rxPending: () => (state.remaining > 0 ? 1 : 0),
  });
  const d = new NativeRingDriver(native, info, { medium: 'ethernet', mtu: 1500, maxBatch, checksum: SOFTWARE_CHECKSUMS }, MAC);
  return Object.defineProperty(d, 'remaining', { get: () => state.remaining, set: (v: number) => (state.remaining = v) }) as unknown as FrameDriver & { remaining: number };
}

const driver = opt('--driver', 'replay') === 'ring' ? ringDriver(udpFrame(size)) : new ReplayDriver(udpFrame(size));
const stack = new NetStack({ driver, addresses: [parseCidr('10.0.0.1/24')!], rng: seededRng(1) });
stack.neighbours.learn(0, SRC, PEER, true, false);
const sock = stack.udp.createSocket();
sock.bind(0, 9000);
let got = 0;
sock.onMessage = () => {
  got++;
};
const gc = (globalThis as { gc?: () => void }).gc;
const results: number[] = [];
for (let r = 0; r < rounds + 1; r++) {
  gc?.();
  driver.remaining = total;
  got = 0;
  const t0 = process.hrtime.bigint();
  let now = 1000;
  while (driver.remaining > 0) stack.poll(now++);
  const t1 = process.hrtime.bigint();
  if (got !== total) throw new Error(`delivered ${got} of ${total}`);
  if (r > 0) {
    results.push(Number(t1 - t0) / total);
  }
}
results.sort((a, b) => a - b);
const out = { driver: opt('--driver', 'replay'), size, frames: total, nsPerFrameMedian: +results[results.length >> 1]!.toFixed(1), nsPerFrameMin: +results[0]!.toFixed(1), nsPerFrameMax: +results[results.length - 1]!.toFixed(1) };
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
else console.log(out);
