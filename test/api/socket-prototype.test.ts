/**
 * byway's bypass sockets are `instanceof net.Socket` (node:net's own class), as programs and libraries check:
 * node:net's prototype sits between byway's Socket and stream.Duplex. What that would otherwise change is checked
 * here: node:net's handle-based members that byway's socket does not define would be reached through the chain
 * (corked writes through `_writev`, `_unrefTimer`, `_getpeername`/`_getsockname`, `_bytesDispatched`).
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { bypassEnv, type Env } from './harness.js';

const once = <T = unknown>(em: NodeJS.EventEmitter, ev: string): Promise<T> => new Promise((res) => em.once(ev, res as (v: unknown) => void));

describe('bypass sockets are instances of node:net Socket', () => {
  let env: Env | undefined;
  afterEach(() => env?.close());

  it('connected, accepted and constructed sockets are instanceof net.Socket (and still of stream.Duplex)', async () => {
    env = bypassEnv();
    const accepted: unknown[] = [];
    const srv = env.server.net.createServer((s) => {
      accepted.push(s);
      s.end();
    });
    srv.listen({ port: 80, path: 'bypass' });
    await once(srv, 'listening');
    const c = env.client.net.createConnection({ port: 80, host: env.serverAddress });
    expect(c.path).toBe('bypass');
    expect(c).toBeInstanceOf(net.Socket);
    expect(c).toBeInstanceOf(Duplex);
    expect(c).toBeInstanceOf(env.client.net.Socket);
    expect(new env.client.net.Socket()).toBeInstanceOf(net.Socket);
    c.resume();
    await once(c, 'close');
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toBeInstanceOf(net.Socket);
    srv.close();
  });

  it("node:net's handle members reached through the chain answer for byway's socket", async () => {
    env = bypassEnv();
    let received = '';
    const done = new Promise<void>((resolve) => {
      const srv = env!.server.net.createServer((s) => {
        s.setEncoding('utf8').on('data', (d: string) => (received += d));
        s.on('end', () => {
          s.end();
          srv.close();
          resolve();
        });
      });
      srv.listen({ port: 81, path: 'bypass' });
    });
    const c = env.client.net.createConnection({ port: 81, host: env.serverAddress }) as unknown as net.Socket & { _unrefTimer(): void; _getpeername(): object; _getsockname(): object; _bytesDispatched: number; _handle: unknown };
    await once(c, 'connect');
    // Corked writes are flushed through _writev when a stream has one: node:net's would need a kernel handle.
    c.cork();
    c.write('one ');
    c.write('two ');
    c.write('three');
    c.uncork();
    c.setTimeout(60_000);
    expect(() => c._unrefTimer()).not.toThrow();
    expect(c._getpeername()).toEqual({ address: env.serverAddress, family: 'IPv4', port: 81 });
    expect(c._getsockname()).toEqual({ address: env.clientAddress, family: 'IPv4', port: c.localPort });
    expect(c._handle).toBeNull();
    c.end();
    await done;
    expect(received).toBe('one two three');
    expect(c._bytesDispatched).toBe(c.bytesWritten);
    expect(c.bytesWritten).toBe('one two three'.length);
    c.resume();
    await once(c, 'close');
  });
});

describe("a 'connect' listener added once connected", () => {
  it('runs once, in the next tick (node:tls waits for it on a handle-less net.Socket)', async () => {
    const env = bypassEnv();
    const srv = env.server.net.createServer((s) => s.resume());
    srv.listen({ port: 82, path: 'bypass' });
    await once(srv, 'listening');
    const c = env.client.net.createConnection({ port: 82, host: env.serverAddress });
    await once(c, 'connect');
    let late = 0;
    let lateOnce = 0;
    c.on('connect', () => late++);
    c.once('connect', () => lateOnce++);
    expect([late, lateOnce]).toEqual([0, 0]);
    await new Promise((r) => setImmediate(r));
    expect([late, lateOnce]).toEqual([1, 1]);
    expect(c.listenerCount('connect')).toBe(1); // the once() listener is gone
    c.destroy();
    srv.close();
    env.close();
  });
});
