/**
 * Parity harness: the same scenario runs on the kernel path (real node:dgram / node:net on loopback) and on the
 * bypass path (two byway stacks on an in-memory link), so tests assert the same observable behaviour on both.
 */
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { seededRng } from '../../protocols/util/rng.js';

export interface Env {
  readonly name: 'kernel' | 'bypass';
  /** The stack sockets of the "server" side are made on. */
  readonly server: Stack;
  /** The stack sockets of the "client" side are made on. */
  readonly client: Stack;
  /** The address the client uses to reach the server, and the client's own. */
  readonly serverAddress: string;
  readonly clientAddress: string;
  close(): void;
}

export function bypassEnv(): Env {
  const [da, db] = memoryLink();
  const client = createStack({ driver: da, address: '10.0.0.1/24', rng: seededRng(11) });
  const server = createStack({ driver: db, address: '10.0.0.2/24', rng: seededRng(12) });
  return {
    name: 'bypass',
    client,
    server,
    serverAddress: '10.0.0.2',
    clientAddress: '10.0.0.1',
    close() {
      client.close();
      server.close();
    },
  };
}

/** Kernel path: stacks whose strategy sends every flow to the kernel; both ends on loopback. */
export function kernelEnv(): Env {
  const [da, db] = memoryLink();
  const client = createStack({ driver: da, address: '10.0.0.1/24', path: 'kernel' });
  const server = createStack({ driver: db, address: '10.0.0.2/24', path: 'kernel' });
  return {
    name: 'kernel',
    client,
    server,
    serverAddress: '127.0.0.1',
    clientAddress: '127.0.0.1',
    close() {
      client.close();
      server.close();
    },
  };
}

export const envs: Array<[string, () => Env]> = [
  ['kernel', kernelEnv],
  ['bypass', bypassEnv],
];

export function once<T = unknown[]>(emitter: { once(ev: string, fn: (...a: any[]) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args as T)));
}

export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}
