/**
 * What middleware does not change, it passes on: `forwardRest(wrapper, inner)` gives the wrapper every member of
 * the inner driver that the wrapper does not define itself (own or inherited, methods bound to the inner driver),
 * read through at access time. So a capture or a fault injector around a shared-address AF_XDP driver keeps its
 * `flows` and `hostTables` (without them the stack would ARP for the kernel's own address), and a capability a
 * driver gains later needs no new getter in every middleware.
 *
 * The wrapper's own members win (the frame path, `caps` when faults changes it, `wait` when it must hide it); it
 * lists members it deliberately hides in `hide`. The optional zero-copy frame path (ZERO_COPY_MEMBERS:
 * receiveRanges, txLend) is never forwarded: a wrapper that does not implement it does not have it. Forwarded
 * members are read-only getters: reading one costs a property access on the inner driver; nothing is forwarded
 * on the per-frame path, which the wrapper defines.
 */
import { ZERO_COPY_MEMBERS } from '../types.js';

export function forwardRest<T extends object>(wrapper: T, inner: object, hide: readonly string[] = []): T {
  const taken = new Set<string>([...hide, ...ZERO_COPY_MEMBERS]);
  for (let o: object | null = wrapper; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) taken.add(name);
  }
  const bound = new Map<string, unknown>();
  for (let o: object | null = inner; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor' || taken.has(name)) continue;
      taken.add(name);
      Object.defineProperty(wrapper, name, {
        enumerable: true,
        configurable: true,
        get() {
          const v = (inner as Record<string, unknown>)[name];
          if (typeof v !== 'function') return v;
          // One bound function per method, so `w.m === w.m` holds and nothing is allocated per access.
          let b = bound.get(name) as { of: unknown; fn: unknown } | undefined;
          if (b === undefined || b.of !== v) {
            b = { of: v, fn: (v as (...args: unknown[]) => unknown).bind(inner) };
            bound.set(name, b);
          }
          return b.fn;
        },
      });
    }
  }
  return wrapper;
}
