/** Congestion control modules (RFC 5681 NewReno, RFC 9438 CUBIC) behind one interface; see types.ts. */
export * from './types.js';
export { NewReno, newReno } from './new-reno.js';
export { Cubic, cubic, CUBIC_ALPHA, CUBIC_BETA, CUBIC_C } from './cubic.js';
import { cubic } from './cubic.js';
import { newReno } from './new-reno.js';
import type { CongestionControlFactory } from './types.js';

/** The algorithms by name (TCP_CONGESTION-like selection). */
export const congestionControls: Readonly<Record<string, CongestionControlFactory>> = { newreno: newReno, reno: newReno, cubic };
