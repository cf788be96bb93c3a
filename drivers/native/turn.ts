/**
 * Event-loop turns from the addon (drivers/native/src/turn.c): what the poll loop uses instead of setImmediate
 * when the addon is built. Same place in the loop (the check phase), same effect on the process's life (armed, it
 * keeps the loop running, as a pending immediate does), nextTicks and microtasks after each call, and no object
 * made per turn (setImmediate makes an Immediate, and Node's processImmediate more: about 200 B per poll).
 */
import { nativeAvailability, loadNative } from './index.js';

/** What the poll loop needs of a turn source (src/runtime/poll-loop.ts `TurnSource`, structurally). */
export interface NativeTurns {
  arm(): void;
  disarm(): void;
  close(): void;
}

/**
 * A turn source calling `fn`, or undefined when the addon is not available (the caller keeps setImmediate).
 * `burstUs`: one check phase calls `fn` again at once while it re-arms within that many microseconds of the phase's
 * first call (turn.c, "Bursts"); 0 (the default): once per event-loop iteration.
 */
export function openNativeTurns(fn: () => void, burstUs = 0): NativeTurns | undefined {
  if (!nativeAvailability().available) return undefined;
  const addon = loadNative();
  if (typeof addon.turnOpen !== 'function') return undefined; // an addon built before turns existed
  const t = addon.turnOpen(fn, burstUs);
  return {
    arm: () => addon.turnArm(t),
    disarm: () => addon.turnDisarm(t),
    close: () => addon.turnClose(t),
  };
}
