/**
 * The TCP parts the connection and the layer use (byte ring, RTT estimator, out-of-order queue, congestion
 * control, ISN, SYN cookies), imported from one place so the core can be built against the module contract before
 * the parts landed; now a plain re-export of the parts' modules.
 */
export { ByteRing } from './byte-ring.js';
export { RttEstimator, type RtoOptions } from './rtt.js';
export { OutOfOrderQueue } from './ooo-queue.js';
export { cubic, newReno, congestionControls, type CongestionControl, type CongestionControlFactory } from './cc/index.js';
export { computeIsn, keyedHash32 } from './isn.js';
export { synCookieDecode, synCookieEncode } from './syn-cookie.js';
