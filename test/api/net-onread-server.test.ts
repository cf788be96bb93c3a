/**
 * createServer's onread (byway's: node:net takes onread only for the sockets it connects): every accepted socket's
 * bytes go through the one buffer to the callback and to no 'data' listener, on byway's path and on the kernel's
 * (node:net's accepted socket fed through its 'data' events, net-options.ts feedOnRead). A callback returning false
 * pauses the socket until it is resumed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { envs, once, type Env } from './harness.js';

/** Resolves once `cond()` holds, checking after each event-loop turn (no timer). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}

describe.each(envs)('createServer onread on the %s path', (_name, make) => {
  let env: Env;
  afterEach(() => env?.close());

  it('hands every accepted socket its bytes through the one buffer, at most its length at a time, and emits no data', async () => {
    env = make();
    const buffer = new Uint8Array(16);
    const parts: string[] = [];
    const bufs = new Set<Uint8Array>();
    const selves: unknown[] = [];
    const heard: unknown[] = [];
    let accepted: unknown;
    const server = env.server.net.createServer({
      onread: {
        buffer,
        callback(this: unknown, n: number, buf: Uint8Array) {
          expect(n).toBeLessThanOrEqual(16);
          parts.push(Buffer.from(buf.subarray(0, n)).toString());
          bufs.add(buf);
          selves.push(this);
        },
      },
    }, (s) => {
      accepted = s;
      s.on('data', (d: unknown) => heard.push(d));
    });
    server.listen(0, env.serverAddress);
    await once(server, 'listening');
    const text = 'forty bytes of text, in pieces of 16 ..';
    const c = env.client.net.createConnection({ port: server.address()!.port, host: env.serverAddress });
    c.end(text);
    await until(() => parts.join('').length === text.length);
    expect(parts.join('')).toBe(text);
    expect([...bufs]).toEqual([buffer]);
    expect(selves.every((x) => x === accepted)).toBe(true);
    expect(heard).toEqual([]);
    c.destroy();
    server.close();
  });

  it('a callback returning false pauses the socket; resume() brings the rest', async () => {
    env = make();
    const parts: string[] = [];
    let sock: { resume(): void } | undefined;
    const server = env.server.net.createServer({
      onread: {
        buffer: () => new Uint8Array(8),
        callback(n: number, buf: Uint8Array) {
          parts.push(Buffer.from(buf.subarray(0, n)).toString());
          return parts.length > 1; // the first read pauses
        },
      },
    }, (s) => (sock = s));
    server.listen(0, env.serverAddress);
    await once(server, 'listening');
    const c = env.client.net.createConnection({ port: server.address()!.port, host: env.serverAddress });
    c.write('0123456789abcdef');
    await until(() => parts.length === 1);
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(parts).toEqual(['01234567']); // nothing more while paused (node:net stops reading; isPaused() may not say so)
    sock!.resume();
    await until(() => parts.join('') === '0123456789abcdef');
    c.destroy();
    server.close();
  });

  it('refuses an onread that is not a buffer and a callback, as node:net refuses one for a socket', () => {
    env = make();
    for (const bad of [null, {}, { buffer: new Uint8Array(4) }, { buffer: 'x', callback() {} }]) {
      let err: unknown;
      try {
        env.server.net.createServer({ onread: bad as never });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TypeError);
      expect((err as { code?: string }).code).toBe('ERR_INVALID_ARG_TYPE');
    }
  });
});
