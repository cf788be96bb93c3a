/**
 * The addon's event-loop turns (drivers/native/src/turn.c), which the poll loop uses instead of setImmediate: one
 * call per arm in a later turn, nextTicks and microtasks drained after each call, the process kept alive while armed
 * and not otherwise, errors thrown by the callback on the uncaught-exception path, clean-up in a worker thread; and
 * two stacks exchanging datagrams with and without them. Real event loop: it waits on events, never on a sleep.
 */
import { spawnSync } from 'node:child_process';
import { stat } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { loadNative, nativeAvailability } from '../../drivers/native/index.js';
import { openNativeTurns } from '../../drivers/native/turn.js';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack } from '../../src/index.js';
import { requirePrivileged } from '../helpers/netns.js';

const avail = nativeAvailability();
const skip = !avail.available && !requirePrivileged;
const addonPath = (): string => {
  // The loader's own path resolution, for child processes that load the addon directly.
  const p = new URL('../../drivers/native/build/Release/byway_native.node', import.meta.url).pathname;
  return p;
};

/** Runs a CommonJS snippet in a child Node with the addon at `addon`; its exit code, stdout and stderr. */
function child(code: string): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['-e', `const addon = require(${JSON.stringify(addonPath())});\n${code}`], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/**
 * A turn that records each call ('turn k') and the nextTick and microtask it queues ('tick k', 'micro k'), re-arming
 * itself until its `rounds`-th call, which resolves `finished`.
 */
function recordingTurn(rounds: number, burstUs?: number) {
  const n = loadNative();
  const seen: string[] = [];
  let calls = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const t = n.turnOpen(() => {
    calls++;
    seen.push(`turn ${calls}`);
    if (calls === rounds) {
      done();
      return;
    }
    process.nextTick(() => seen.push(`tick ${calls}`));
    void Promise.resolve().then(() => seen.push(`micro ${calls}`));
    n.turnArm(t);
  }, burstUs);
  return { seen, finished, calls: () => calls, arm: () => n.turnArm(t), close: () => n.turnClose(t) };
}

// Without a build there is nothing to test here; where privileges are required (CI) the addon must be there, so
// these tests run and a missing build fails them instead of skipping.
describe.skipIf(skip)(skip ? `native event-loop turns (skipped: ${avail.available ? '' : avail.reason})` : 'native event-loop turns', () => {
  it('calls once per arm, in a later turn, however often armed before it runs', async () => {
    const n = loadNative();
    let calls = 0;
    let done!: () => void;
    const ran = new Promise<void>((r) => (done = r));
    const t = n.turnOpen(() => {
      calls++;
      done();
    });
    try {
      n.turnArm(t);
      n.turnArm(t);
      n.turnArm(t);
      expect(calls).toBe(0); // never synchronously
      await ran;
      expect(calls).toBe(1);
      // Disarmed before its turn: no call. A setImmediate queued after the disarm runs in the turn it would have.
      n.turnArm(t);
      n.turnDisarm(t);
      await new Promise<void>((r) => setImmediate(r));
      await new Promise<void>((r) => setImmediate(r));
      expect(calls).toBe(1);
    } finally {
      n.turnClose(t);
      n.turnClose(t); // idempotent
    }
    n.turnArm(t); // arming a closed handle does nothing (and does not crash)
    await new Promise<void>((r) => setImmediate(r));
    expect(calls).toBe(1);
  });

  it('drains nextTicks and microtasks after each call, before the next turn', async () => {
    const r = recordingTurn(3);
    try {
      r.arm();
      await r.finished;
    } finally {
      r.close();
    }
    expect(r.seen).toEqual(['turn 1', 'tick 1', 'micro 1', 'turn 2', 'tick 2', 'micro 2', 'turn 3']);
  });

  it('with a burst budget, calls again in the same loop iteration while re-armed, draining ticks and microtasks between calls', async () => {
    // Loop iterations, counted by a chain of immediates (Node's run in the same check phase, before this handle's).
    let iterations = 0;
    let counting = true;
    const tick = (): void => {
      iterations++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const r = recordingTurn(50, 1_000_000);
    try {
      await new Promise<void>((res) => setImmediate(res)); // the chain is running
      const before = iterations;
      r.arm();
      await r.finished;
      // Fifty calls in one check phase (one iteration, two when armed after this iteration's phase began), not fifty.
      expect(r.calls()).toBe(50);
      expect(iterations - before).toBeLessThanOrEqual(3);
      for (let k = 1; k < 50; k++) expect(r.seen.slice(3 * (k - 1), 3 * k)).toEqual([`turn ${k}`, `tick ${k}`, `micro ${k}`]);
    } finally {
      counting = false;
      r.close();
    }
  });

  it('ends a burst after its budget, so the rest of the loop runs while the turn re-arms itself for ever', async () => {
    const n = loadNative();
    let calls = 0;
    const t = n.turnOpen(() => {
      calls++;
      n.turnArm(t);
    }, 2_000); // 2 ms
    try {
      n.turnArm(t);
      // A chain of immediates and an I/O callback (the poll phase) still run: the check phase is left at least
      // every 2 ms. Both are events the test waits on, not a sleep.
      let iterations = 0;
      await new Promise<void>((resolve) => {
        const step = (): void => {
          if (++iterations < 20) setImmediate(step);
          else resolve();
        };
        setImmediate(step);
      });
      await new Promise<void>((resolve, reject) => stat('.', (err) => (err ? reject(err) : resolve())));
      expect(iterations).toBe(20);
      expect(calls).toBeGreaterThan(100); // the turn kept running between them
    } finally {
      n.turnClose(t);
    }
  });

  it('refuses a burst budget that is not a number from 0 to 1,000,000 microseconds', () => {
    const n = loadNative() as unknown as { turnOpen: (fn: () => void, burst?: unknown) => unknown };
    for (const bad of [-1, Number.NaN, 2e6, '50', null]) {
      expect(() => n.turnOpen(() => {}, bad)).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }));
    }
  });

  it('keeps the process alive while armed, and only then', () => {
    // Armed from a timer: the process must live to run the turn (which prints), then exit on its own.
    const armed = child(`const t = addon.turnOpen(() => { console.log('ran'); addon.turnClose(t); });
      setTimeout(() => addon.turnArm(t), 5);`);
    expect(armed.err).toBe('');
    expect(armed.out).toBe('ran\n');
    expect(armed.status).toBe(0);
    // Open but never armed: nothing holds the loop, the process exits at once without calling.
    const idle = child(`const t = addon.turnOpen(() => console.log('ran')); console.log('end');`);
    expect(idle.out).toBe('end\n');
    expect(idle.status).toBe(0);
  });

  it('sends an error thrown by the callback to uncaughtException', () => {
    const r = child(`process.on('uncaughtException', (e) => { console.log('caught ' + e.message); process.exit(7); });
      const t = addon.turnOpen(() => { throw new Error('boom'); }); addon.turnArm(t);`);
    expect(r.out).toBe('caught boom\n');
    expect(r.status).toBe(7);
  });

  it('is cleaned up with a worker thread that leaves it armed', async () => {
    const src = `const { parentPort } = require('node:worker_threads'); const addon = require(${JSON.stringify(addonPath())});
      let n = 0; const t = addon.turnOpen(() => { if (++n === 100) parentPort.postMessage(n); addon.turnArm(t); });
      addon.turnArm(t);`;
    const w = new Worker(src, { eval: true });
    const got = await new Promise<number>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(got).toBe(100);
    // The worker's loop never runs dry (the turn re-arms itself): terminate() ends it; its clean-up hook closes the
    // handles, so the process (and this test) goes on.
    expect(await w.terminate()).toBe(1);
    const again = openNativeTurns(() => {});
    expect(again).toBeDefined();
    again!.close();
  });

  it('carries a datagram ping-pong between two stacks, as setImmediate does', async () => {
    // Count the stacks' native turn sources: two with nativeTurns (the default), none with false.
    const n = loadNative() as unknown as { turnOpen: (fn: () => void, burstUs?: number) => unknown };
    const real = n.turnOpen;
    let opened = 0;
    n.turnOpen = (fn, burstUs) => {
      opened++;
      return real(fn, burstUs);
    };
    for (const nativeTurns of [true, false]) {
      opened = 0;
      const [da, db] = memoryLink();
      const a = createStack({ driver: da, address: '10.0.0.1/24', nativeTurns });
      const b = createStack({ driver: db, address: '10.0.0.2/24', nativeTurns });
      try {
        const sa = a.dgram.createSocket('udp4');
        const sb = b.dgram.createSocket('udp4');
        await new Promise<void>((r) => sb.bind(7000, '10.0.0.2', () => r()));
        sb.on('message', (m: Buffer, ri: { port: number; address: string }) => sb.send(m, ri.port, ri.address));
        let left = 200;
        await new Promise<void>((resolve) => {
          sa.on('message', () => (--left === 0 ? resolve() : sa.send('x', 7000, '10.0.0.2')));
          sa.send('x', 7000, '10.0.0.2');
        });
        expect(left).toBe(0);
        expect(opened).toBe(nativeTurns ? 2 : 0);
        sa.close();
        sb.close();
      } finally {
        await a.close();
        await b.close();
        n.turnOpen = real;
      }
    }
  });
});
