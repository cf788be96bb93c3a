/**
 * dgram's onmessage option (src/api/dgram-onmessage.ts): datagrams copied into the application's buffer, given to
 * its callback with one reused rinfo, and no 'message' event, on byway's path and on the kernel's (node:dgram
 * underneath, also when the path is decided at the first bind).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/index.js';
import { seededRng } from '../../protocols/util/rng.js';
import { envs, once, type Env } from './harness.js';

interface Got {
  n: number;
  bytes: string;
  buf: Uint8Array;
  rinfo: { address: string; family: string; port: number; size: number };
  snapshot: { address: string; family: string; port: number; size: number };
}

/** Resolves after `count` callbacks, with what each saw (the rinfo itself and a copy of its fields then). */
function collector(count: number): { onmessage: { buffer: Uint8Array | (() => Uint8Array); callback: (n: number, b: Uint8Array, r: Got['rinfo']) => void }; done: Promise<Got[]>; set(buffer: Uint8Array | (() => Uint8Array)): void } {
  const got: Got[] = [];
  let resolve!: (g: Got[]) => void;
  const done = new Promise<Got[]>((r) => (resolve = r));
  const onmessage = {
    buffer: new Uint8Array(64) as Uint8Array | (() => Uint8Array),
    callback(n: number, b: Uint8Array, r: Got['rinfo']) {
      got.push({ n, bytes: Buffer.from(b.subarray(0, n)).toString(), buf: b, rinfo: r, snapshot: { ...r } });
      if (got.length === count) resolve(got);
    },
  };
  return { onmessage, done, set: (buffer) => (onmessage.buffer = buffer) };
}

describe.each(envs)('dgram onmessage on the %s path', (_name, make) => {
  let env: Env;
  afterEach(() => env?.close());

  it('copies each datagram into the one buffer, reuses one rinfo, and emits no message event', async () => {
    env = make();
    const c = collector(2);
    const server = env.server.dgram.createSocket({ type: 'udp4', onmessage: c.onmessage });
    const heard: unknown[] = [];
    server.on('message', (m: unknown) => heard.push(m));
    server.bind(0);
    await once(server, 'listening');
    const client = env.client.dgram.createSocket('udp4');
    client.bind(0);
    await once(client, 'listening');
    const port = server.address().port;
    client.send('hello', port, env.serverAddress);
    client.send('worlds!', port, env.serverAddress);
    const got = await c.done;
    expect(got.map((g) => [g.n, g.bytes])).toEqual([[5, 'hello'], [7, 'worlds!']]);
    expect(got[0]!.buf).toBe(c.onmessage.buffer);
    expect(got[1]!.buf).toBe(c.onmessage.buffer);
    expect(got[1]!.rinfo).toBe(got[0]!.rinfo); // one object, overwritten
    expect(got[0]!.snapshot).toEqual({ address: env.clientAddress, family: 'IPv4', port: client.address().port, size: 5 });
    expect(got[1]!.snapshot.size).toBe(7);
    expect(heard).toEqual([]);
    client.close();
    server.close();
  });

  it('cuts a datagram longer than the buffer (rinfo.size says how long it was), and asks a buffer function each time', async () => {
    env = make();
    const c = collector(2);
    const bufs = [new Uint8Array(4), new Uint8Array(100)];
    let asked = 0;
    c.set(() => bufs[asked++]!);
    const server = env.server.dgram.createSocket({ type: 'udp4', onmessage: c.onmessage });
    server.bind(0);
    await once(server, 'listening');
    const client = env.client.dgram.createSocket('udp4');
    const port = server.address().port;
    client.send('0123456789', port, env.serverAddress);
    await new Promise((r) => setImmediate(r));
    client.send('abc', port, env.serverAddress);
    const got = await c.done;
    expect(asked).toBe(2);
    expect(got[0]).toMatchObject({ n: 4, bytes: '0123', buf: bufs[0] });
    expect(got[0]!.snapshot.size).toBe(10);
    expect(got[1]).toMatchObject({ n: 3, bytes: 'abc', buf: bufs[1] });
    client.close();
    server.close();
  });

  it('refuses an onmessage that is not a buffer and a callback, as node:net refuses a bad onread', () => {
    env = make();
    for (const bad of [null, {}, { buffer: new Uint8Array(4) }, { callback() {} }, { buffer: 'x', callback() {} }, 5]) {
      let err: unknown;
      try {
        env.server.dgram.createSocket({ type: 'udp4', onmessage: bad as never });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TypeError);
      expect((err as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
      expect(String((err as Error).message)).toMatch(/^The "options\.onmessage" property must be of type object/);
    }
  });
});

/** Stacks a test below made, closed after it. */
let stacks: Stack[] = [];
afterEach(() => {
  for (const s of stacks) s.close();
  stacks = [];
});

describe('dgram onmessage on a socket whose path is decided at its first bind', () => {
  it('goes to the callback and to no message listener of the deferred socket (kernel path taken)', async () => {
    const [da] = memoryLink();
    const s = createStack({ driver: da, address: '10.0.0.1/24', path: { rules: [], default: 'kernel' } });
    stacks = [s];
    const c = collector(1);
    const server = s.dgram.createSocket({ type: 'udp4', onmessage: c.onmessage });
    const heard: unknown[] = [];
    server.on('message', (m: unknown) => heard.push(m));
    server.bind(0, '127.0.0.1');
    await once(server, 'listening');
    expect(server.path).toBe('kernel');
    const client = s.dgram.createSocket('udp4');
    client.send('deferred', server.address().port, '127.0.0.1');
    const got = await c.done;
    expect(got[0]).toMatchObject({ n: 8, bytes: 'deferred' });
    expect(got[0]!.snapshot).toMatchObject({ address: '127.0.0.1', family: 'IPv4', size: 8 });
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual([]);
    client.close();
    server.close();
  });
});

describe('dgram onmessage on a udp6 socket of byway', () => {
  it('delivers IPv6 datagrams and IPv4 ones (as ::ffff:a.b.c.d) through the buffer, with the family of each', async () => {
    const [da, db] = memoryLink();
    const ipv6 = { dad: { dupAddrDetectTransmits: 0 } };
    const a = createStack({ driver: da, address: ['10.0.0.1/24', 'fd00::1/64', 'fd00::3/64'], rng: seededRng(31), ipv6 });
    const b = createStack({ driver: db, address: ['10.0.0.2/24', 'fd00::2/64'], rng: seededRng(32), ipv6 });
    stacks = [a, b];
    const c = collector(4);
    const server = b.dgram.createSocket({ type: 'udp6', onmessage: c.onmessage });
    server.bind(7000);
    await once(server, 'listening');
    expect(server.path).toBe('bypass');
    const c6 = a.dgram.createSocket('udp6');
    c6.bind(0, 'fd00::1'); // the stack has two IPv6 addresses: each client says which
    await once(c6, 'listening');
    c6.send('six', 7000, 'fd00::2');
    await new Promise((r) => setImmediate(r));
    const c4 = a.dgram.createSocket('udp4');
    c4.send('four!', 7000, '10.0.0.2');
    await new Promise((r) => setImmediate(r));
    // Another IPv6 source, then the first again: each datagram says its own sender.
    const c63 = a.dgram.createSocket('udp6');
    c63.bind(0, 'fd00::3');
    await once(c63, 'listening');
    c63.send('three', 7000, 'fd00::2');
    await new Promise((r) => setImmediate(r));
    c6.send('one', 7000, 'fd00::2');
    const got = await c.done;
    expect(got.map((g) => [g.n, g.bytes, g.snapshot.address, g.snapshot.family])).toEqual([
      [3, 'six', 'fd00::1', 'IPv6'],
      [5, 'four!', '::ffff:10.0.0.1', 'IPv6'],
      [5, 'three', 'fd00::3', 'IPv6'],
      [3, 'one', 'fd00::1', 'IPv6'],
    ]);
    c63.close();
    c6.close();
    c4.close();
    server.close();
  });
});
