/**
 * What node:net's `onread` and byway's dgram `onmessage` share: the option's shape and check, the buffer asked for
 * each read, and, on the kernel path (a node:net or node:dgram socket that has no such option of its own), the
 * socket's data event diverted to the callback instead of its listeners.
 */
import type { EventEmitter } from 'node:events';
import { invalidArgType } from './errors.js';

/** `{ buffer, callback }`: one buffer reused, or a function asked for one before each read. */
export interface IntoBuffer {
  readonly buffer: Uint8Array | (() => Uint8Array);
}

/** node:net's check of onread (ERR_INVALID_ARG_TYPE naming `name`): a callback and a Uint8Array or function buffer. */
export function checkIntoBuffer<T extends IntoBuffer>(v: unknown, name: string): T {
  const o = v as (IntoBuffer & { callback?: unknown }) | null;
  if (o === null || typeof o !== 'object' || typeof o.callback !== 'function' || !(typeof o.buffer === 'function' || o.buffer instanceof Uint8Array)) {
    throw invalidArgType(name, 'of type object', v);
  }
  return o as T;
}

/** The buffer for the next read. */
export function bufferFor(o: IntoBuffer): Uint8Array {
  return typeof o.buffer === 'function' ? o.buffer() : o.buffer;
}

/** `event` of `emitter` goes to `handler` (called on the emitter) and to none of its listeners; other events as before. */
export function divertEvent<E extends EventEmitter>(emitter: E, event: string, handler: (this: E, ...args: unknown[]) => void): void {
  const emit = emitter.emit as (this: E, event: string | symbol, ...args: unknown[]) => boolean;
  emitter.emit = function (this: E, ev: string | symbol, ...args: unknown[]): boolean {
    if (ev !== event) return emit.call(this, ev, ...args);
    handler.apply(this, args);
    return true;
  } as E['emit'];
}
