/**
 * node:net parity: each scenario runs on the kernel path (node:net on loopback) and the bypass path (two byway
 * stacks on a memory link) and asserts the same observable behaviour. These run on Node's real event loop (the
 * API is asynchronous by nature); every wait is on an event, bounded by the test time-out.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { envs, once, type Env } from './harness.js';

type AnySocket = ReturnType<Env['client']['net']['createConnection']>;
type AnyServer = ReturnType<Env['server']['net']['createServer']>;

async function listen(env: Env, server: AnyServer): Promise<number> {
  server.listen(0, env.serverAddress);
  await once(server, 'listening');
  return server.address()!.port;
}

function record(s: AnySocket, events: string[]): void {
  for (const e of ['connect', 'ready', 'end', 'finish', 'close', 'timeout']) s.on(e, () => events.push(e));
  s.on('error', (err: NodeJS.ErrnoException) => events.push(`error:${err.code}`));
}

function collect(s: AnySocket): Promise<string> {
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return new Promise((resolve) => s.once('end', () => resolve(text)));
}

describe.each(envs)('net on the %s path', (name, make) => {
  let env: Env;
  afterEach(() => env?.close());

  it('connects, exchanges data and closes with Node\'s event order', async () => {
    env = make();
    const paths: string[] = [];
    const server = env.server.net.createServer((c) => {
      paths.push(c.path);
      c.resume(); // consume, so the server side sees the client's FIN and closes
      c.end('bye');
    });
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress });
    expect(client.path).toBe(name);
    expect(client.readyState).toBe('opening');
    expect(client.pending).toBe(true);
    const events: string[] = [];
    record(client, events);
    const text = collect(client);
    await once(client, 'connect');
    expect(client.readyState).toBe('open');
    expect(client.remoteAddress).toBe(env.serverAddress);
    expect(client.remotePort).toBe(port);
    expect(client.remoteFamily).toBe('IPv4');
    expect(client.localAddress).toBe(env.clientAddress);
    expect(client.address()).toEqual({ address: env.clientAddress, family: 'IPv4', port: client.localPort });
    await once(client, 'close');
    expect(await text).toBe('bye');
    expect(events).toEqual(['connect', 'ready', 'end', 'finish', 'close']);
    expect(client.bytesRead).toBe(3);
    expect(client.readyState).toBe('closed');
    expect(paths).toEqual([name]);
    server.close();
    await once(server, 'close');
  });

  it('keeps writing after the peer\'s FIN with allowHalfOpen, and ends at once without it', async () => {
    env = make();
    const server = env.server.net.createServer({ allowHalfOpen: true }, (c) => {
      let got = '';
      c.on('data', (d: Buffer) => (got += d.toString()));
      c.on('end', () => {
        // The client has half-closed; we can still answer.
        c.write(`echo:${got}`);
        c.end();
      });
    });
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress, allowHalfOpen: true });
    const text = collect(client);
    client.end('ping');
    expect(await text).toBe('echo:ping');
    await once(client, 'close');

    // Without allowHalfOpen the server's socket ends its side as soon as the client's FIN arrives.
    const server2 = env.server.net.createServer((c) => {
      const ev: string[] = [];
      c.on('end', () => ev.push('end'));
      c.on('finish', () => ev.push('finish'));
      c.on('close', () => c.emit('order', ev));
      c.resume();
    });
    const port2 = await listen(env, server2);
    const order = new Promise<string[]>((resolve) => server2.once('connection', (c: AnySocket) => c.once('order', resolve)));
    const c2 = env.client.net.createConnection({ port: port2, host: env.serverAddress }, () => c2.end());
    c2.resume();
    expect(await order).toEqual(['end', 'finish']);
    server.close();
    server2.close();
  });

  it('applies backpressure: write() returns false, then drain', async () => {
    env = make();
    let serverSock: AnySocket | undefined;
    const server = env.server.net.createServer({ pauseOnConnect: true }, (c) => (serverSock = c));
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress });
    await once(client, 'connect');
    const chunk = Buffer.alloc(64 * 1024, 7);
    let written = 0;
    while (client.write(chunk)) {
      written += chunk.length;
      if (written > 256 * 1024 * 1024) throw new Error('write() never returned false');
      // Let the event loop move data so the buffers really fill.
      await new Promise((resolve) => setImmediate(resolve));
    }
    written += chunk.length;
    expect(client.writableNeedDrain).toBe(true);
    const drained = once(client, 'drain');
    let received = 0;
    serverSock!.on('data', (d: Buffer) => (received += d.length));
    serverSock!.resume();
    await drained;
    client.end();
    await once(serverSock!, 'end');
    expect(received).toBe(written);
    server.close();
  });

  it("paused mode: 'readable' and read() with a small high-water mark get every byte, in order", async () => {
    env = make();
    const total = 3 * 1024 * 1024;
    const payload = Buffer.alloc(total);
    for (let i = 0; i < total; i++) payload[i] = (i * 7 + (i >> 10)) & 0xff;
    const server = env.server.net.createServer((c) => c.end(payload));
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress, readableHighWaterMark: 1024 } as never);
    const parts: Buffer[] = [];
    let readables = 0;
    client.on('readable', () => {
      readables++;
      // Read in small pieces, as a parser would: read(n) below what is buffered, then whatever is left.
      for (let b: Buffer | null; (b = client.read(100) as Buffer | null) !== null; ) parts.push(b);
      for (let b: Buffer | null; (b = client.read() as Buffer | null) !== null; ) parts.push(b);
    });
    await once(client, 'end');
    expect(Buffer.concat(parts).equals(payload)).toBe(true);
    expect(readables).toBeGreaterThan(1);
    server.close();
  });

  it("each 'data' Buffer is the reader's: chunks kept while more arrives keep their bytes; pause and resume", async () => {
    env = make();
    const total = 2 * 1024 * 1024 + 777;
    const payload = Buffer.alloc(total);
    for (let i = 0; i < total; i++) payload[i] = (i * 13 + (i >> 9)) & 0xff;
    // Written in odd sizes so that chunks end anywhere within the receiver's slabs.
    const server = env.server.net.createServer((c) => {
      for (let o = 0; o < total; o += 1000 + (o % 7919)) c.write(payload.subarray(o, Math.min(total, o + 1000 + (o % 7919))));
      c.end();
    });
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress });
    const kept: Array<[Buffer, Buffer]> = [];
    let pauses = 0;
    client.on('data', (d: Buffer) => {
      expect(Buffer.isBuffer(d)).toBe(true);
      kept.push([d, Buffer.from(d)]);
      if (kept.length % 5 === 0) {
        pauses++;
        client.pause();
        setImmediate(() => client.resume());
      }
    });
    await once(client, 'end');
    expect(Buffer.concat(kept.map(([d]) => d)).equals(payload)).toBe(true);
    expect(kept.every(([d, copy]) => d.equals(copy))).toBe(true);
    expect(pauses).toBeGreaterThan(0);
    server.close();
  });

  it('setEncoding: utf8 characters split between chunks arrive whole', async () => {
    env = make();
    const text = 'añ€😀'.repeat(100_000);
    const server = env.server.net.createServer((c) => c.end(text));
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress });
    client.setEncoding('utf8');
    let got = '';
    client.on('data', (s: string) => (got += s));
    await once(client, 'end');
    expect(got).toBe(text);
    server.close();
  });

  it('reports ECONNREFUSED like node:net', async () => {
    env = make();
    const probe = env.server.net.createServer();
    const port = await listen(env, probe);
    probe.close();
    await once(probe, 'close');
    const client = env.client.net.createConnection({ port, host: env.serverAddress });
    const events: string[] = [];
    record(client, events);
    const [err] = await once<[NodeJS.ErrnoException & { address: string; port: number }]>(client, 'error');
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.errno).toBe(-111); // libuv's, as protocols/util/errors.ts SYSTEM_ERRORS gives it
    expect(err.syscall).toBe('connect');
    expect(err.address).toBe(env.serverAddress);
    expect(err.port).toBe(port);
    expect(err.message).toBe(`connect ECONNREFUSED ${env.serverAddress}:${port}`);
    await once(client, 'close');
    expect(events).toEqual(['error:ECONNREFUSED', 'close']);
  });

  it('reports ECONNRESET when the peer resets', async () => {
    env = make();
    // The server resets once it has heard from the client, so the client has surely seen its connect.
    const server = env.server.net.createServer((c) => c.once('data', () => c.resetAndDestroy()));
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress }, () => client.write('hi'));
    const events: string[] = [];
    record(client, events);
    await once(client, 'close');
    expect(events).toEqual(['connect', 'ready', 'error:ECONNRESET', 'close']);
    server.close();
  });

  it('writes buffered while corked or while TCP is full (flushed together) arrive in order, each callback once', async () => {
    env = make();
    const received: Buffer[] = [];
    let accepted: AnySocket | undefined;
    const server = env.server.net.createServer({ pauseOnConnect: true }, (c) => (accepted = c as AnySocket));
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress });
    await once(client, 'connect');
    const calls: number[] = [];
    // As node:http ends a response: corked, the data, then an empty write with the callback.
    client.cork();
    client.write('head ', () => calls.push(0));
    client.write('', () => calls.push(1));
    client.uncork();
    // Then more than TCP takes while the peer does not read: the rest waits in the stream, flushed together later.
    const expected: Buffer[] = [Buffer.from('head ')];
    for (let i = 0; i < 40; i++) {
      const chunk = Buffer.alloc(i % 3 === 0 ? 0 : 50_000 + i, i);
      expected.push(chunk);
      client.write(chunk, () => calls.push(2 + i));
    }
    client.end();
    while (accepted === undefined) await new Promise((r) => setImmediate(r));
    accepted.on('data', (d: Buffer) => received.push(d));
    accepted.resume();
    await once(accepted, 'end');
    expect(Buffer.concat(received).equals(Buffer.concat(expected))).toBe(true);
    expect(calls).toEqual(Array.from({ length: 42 }, (_, i) => i));
    expect(client.bytesWritten).toBe(Buffer.concat(expected).length);
    accepted.end();
    server.close();
  });

  it('a socket destroyed by another socket\'s data handler gets no more events (data arriving together)', async () => {
    env = make();
    const accepted: AnySocket[] = [];
    const server = env.server.net.createServer((c) => {
      accepted.push(c as AnySocket);
      c.on('error', () => {}); // the destroyed client's end resets (its data unread)
      if (accepted.length === 2) for (const s of accepted) s.write('x'); // in one turn: one receive batch on bypass
    });
    const port = await listen(env, server);
    const a = env.client.net.createConnection({ port, host: env.serverAddress });
    const b = env.client.net.createConnection({ port, host: env.serverAddress });
    const data: string[] = [];
    const errors: unknown[] = [];
    let closedOther: (() => void) | undefined;
    const otherClosed = new Promise<void>((resolve) => (closedOther = resolve));
    for (const [s, other, name] of [[a, b, 'a'], [b, a, 'b']] as const) {
      s.on('data', () => {
        data.push(name);
        other.once('close', closedOther!).destroy();
      });
      s.on('error', (e: unknown) => errors.push(e));
    }
    await otherClosed;
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r)); // anything still queued would come now
    expect(data.length).toBe(1);
    expect(errors).toEqual([]);
    const survivor = data[0] === 'a' ? a : b;
    expect(survivor.destroyed).toBe(false);
    for (const s of [a, b, ...accepted]) s.destroy();
    server.close();
  });

  it('emits timeout on an idle socket and keeps it open', async () => {
    env = make();
    const server = env.server.net.createServer(() => {});
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress });
    await once(client, 'connect');
    client.setTimeout(30);
    const t0 = Date.now();
    await once(client, 'timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(client.destroyed).toBe(false);
    client.destroy();
    await once(client, 'close');
    server.close();
  });

  it('destroy() during connect closes without connect or error', async () => {
    env = make();
    const server = env.server.net.createServer(() => {});
    const port = await listen(env, server);
    const client = env.client.net.createConnection({ port, host: env.serverAddress });
    const events: string[] = [];
    record(client, events);
    client.destroy();
    const [hadError] = await once<[boolean]>(client, 'close');
    expect(hadError).toBe(false);
    expect(events).toEqual(['close']);
    server.close();
  });

  it('server close waits for open connections; getConnections counts them', async () => {
    env = make();
    const conns: AnySocket[] = [];
    const server = env.server.net.createServer((c) => conns.push(c));
    const port = await listen(env, server);
    const a = env.client.net.createConnection({ port, host: env.serverAddress });
    const b = env.client.net.createConnection({ port, host: env.serverAddress });
    await Promise.all([once(a, 'connect'), once(b, 'connect')]);
    while (conns.length < 2) await once(server, 'connection');
    const count = await new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
    expect(count).toBe(2);
    let closed = false;
    server.close(() => (closed = true));
    // New connections are refused once closed.
    const late = env.client.net.createConnection({ port, host: env.serverAddress });
    const [err] = await once<[NodeJS.ErrnoException]>(late, 'error');
    expect(err.code).toBe('ECONNREFUSED');
    expect(closed).toBe(false);
    a.end();
    b.end();
    await once(server, 'close');
    expect(closed).toBe(true);
  });

  it('emits EADDRINUSE for a second listener on the same port', async () => {
    env = make();
    const one = env.server.net.createServer();
    const port = await listen(env, one);
    const two = env.server.net.createServer();
    two.listen(port, env.serverAddress);
    const [err] = await once<[NodeJS.ErrnoException]>(two, 'error');
    expect(err.code).toBe('EADDRINUSE');
    expect(err.errno).toBe(-98);
    expect(err.syscall).toBe('listen');
    expect(err.message).toBe(`listen EADDRINUSE: address already in use ${env.serverAddress}:${port}`);
    one.close();
  });

  it("throws node:net's errors for bad listen() and connect() arguments (class, code, message)", () => {
    env = make();
    const caught = (f: () => unknown): [string, string, string] => {
      try {
        f();
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        return [err.constructor.name, err.code ?? '', err.message];
      }
      return ['none', '', ''];
    };
    const server = env.server.net.createServer();
    expect(caught(() => server.listen({}))).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE', `The argument 'options' must have the property "port" or "path". Received {}`]);
    expect(caught(() => server.listen({ port: -1 }))).toEqual(['RangeError', 'ERR_SOCKET_BAD_PORT', 'options.port should be >= 0 and < 65536. Received type number (-1).']);
    expect(caught(() => env.client.net.createConnection({ port: 70000, host: env.serverAddress }))).toEqual(['RangeError', 'ERR_SOCKET_BAD_PORT', 'Port should be >= 0 and < 65536. Received type number (70000).']);
    expect(caught(() => (env.client.net.createConnection as (o: object) => unknown)({}))).toEqual(['TypeError', 'ERR_MISSING_ARGS', 'The "options" or "port" or "path" argument must be specified']);
  });

  it('fails a client bound to the port a server listens on with bind EADDRINUSE', async () => {
    env = make();
    const server = env.server.net.createServer();
    const port = await listen(env, server);
    // The server's own stack and address, so the local port is the listener's.
    const c = env.server.net.createConnection({ port, host: env.serverAddress, localAddress: env.serverAddress, localPort: port });
    const [err] = await once<[NodeJS.ErrnoException & { address?: string; port?: number }]>(c, 'error');
    expect([err.code, err.syscall, err.address, err.port]).toEqual(['EADDRINUSE', 'bind', env.serverAddress, port]);
    expect(err.message).toBe(`bind EADDRINUSE ${env.serverAddress}:${port}`);
    server.close();
  });

  it("maxConnections: a connection over it is closed at accept time and reported with 'drop' and node:net's data", async () => {
    env = make();
    const server = env.server.net.createServer((s) => s.write('welcome'));
    server.maxConnections = 1;
    const drops: unknown[] = [];
    server.on('drop', (d: unknown) => drops.push({ ...(d as object) }));
    const port = await listen(env, server);
    const first = env.client.net.createConnection({ port, host: env.serverAddress });
    await once(first, 'data'); // accepted
    const second = env.client.net.createConnection({ port, host: env.serverAddress });
    second.on('error', () => {}); // reset (bypass) or closed (kernel): how it ends is the kernel's business
    second.resume();
    await once(second, 'close');
    expect(drops).toEqual([
      { localAddress: env.serverAddress, localPort: port, localFamily: 'IPv4', remoteAddress: expect.any(String), remotePort: expect.any(Number), remoteFamily: 'IPv4' },
    ]);
    first.destroy();
    server.close();
  });

  it('Socket, Stream and Server build instances without new, as node:net\'s; isIP, isIPv4, isIPv6', () => {
    env = make();
    const n = env.client.net;
    expect(n.Stream).toBe(n.Socket);
    const s = (n.Socket as unknown as () => unknown)();
    expect(s).toBeInstanceOf(n.Socket);
    expect((n.Stream as unknown as () => unknown)()).toBeInstanceOf(n.Socket);
    expect((n.Server as unknown as () => unknown)()).toBeInstanceOf(n.Server);
    expect([n.isIP('10.0.0.1'), n.isIP('fd00::1'), n.isIP('db.internal')]).toEqual([4, 6, 0]);
    expect([n.isIPv4('10.0.0.1'), n.isIPv6('10.0.0.1'), n.isIPv6('::1')]).toEqual([true, false, true]);
  });
});
