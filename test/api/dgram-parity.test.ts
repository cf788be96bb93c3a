import { afterEach, describe, expect, it } from 'vitest';
import { codeOf, envs, once, type Env } from './harness.js';

describe.each(envs)('dgram on the %s path', (name, make) => {
  let env: Env;
  afterEach(() => env?.close());

  it('binds, reports its address, and exchanges messages with rinfo', async () => {
    env = make();
    const server = env.server.dgram.createSocket('udp4');
    const client = env.client.dgram.createSocket('udp4');
    expect(server.path).toBe(name);
    const events: string[] = [];
    server.on('listening', () => events.push('listening'));
    server.bind(0);
    await once(server, 'listening');
    const { port, family } = server.address();
    expect(family).toBe('IPv4');
    expect(port).toBeGreaterThan(0);
    const got = once<[Buffer, { address: string; port: number; size: number; family: string }]>(server, 'message');
    client.send('hello', port, env.serverAddress);
    const [msg, rinfo] = await got;
    expect(msg.toString()).toBe('hello');
    expect(Buffer.isBuffer(msg)).toBe(true);
    expect(rinfo).toMatchObject({ address: env.clientAddress, family: 'IPv4', size: 5, port: client.address().port });
    // Reply to rinfo, with offset/length and an array of buffers.
    const back = once<[Buffer]>(client, 'message');
    server.send(Buffer.from('xxREPLYxx'), 2, 5, rinfo.port, rinfo.address);
    expect((await back)[0].toString()).toBe('REPLY');
    const arr = once<[Buffer]>(server, 'message');
    client.send([Buffer.from('ab'), 'cd'], port, env.serverAddress);
    expect((await arr)[0].toString()).toBe('abcd');
    const closed = once(server, 'close');
    server.close();
    await closed;
    expect(events).toEqual(['listening']);
    client.close();
  });

  it('connects, sends without an address, and reports the remote', async () => {
    env = make();
    const server = env.server.dgram.createSocket('udp4');
    server.bind(0);
    await once(server, 'listening');
    const port = server.address().port;
    const client = env.client.dgram.createSocket('udp4');
    expect(codeOf(() => client.remoteAddress())).toBe('ERR_SOCKET_DGRAM_NOT_CONNECTED');
    client.connect(port, env.serverAddress);
    await once(client, 'connect');
    expect(client.remoteAddress()).toEqual({ address: env.serverAddress, family: 'IPv4', port });
    expect(codeOf(() => client.connect(port, env.serverAddress))).toBe('ERR_SOCKET_DGRAM_IS_CONNECTED');
    const got = once<[Buffer]>(server, 'message');
    const sent = await new Promise<[Error | null, number]>((resolve) => client.send('ping', (err, n) => resolve([err, n])));
    expect(sent).toEqual([null, 4]);
    expect((await got)[0].toString()).toBe('ping');
    client.disconnect();
    expect(codeOf(() => client.remoteAddress())).toBe('ERR_SOCKET_DGRAM_NOT_CONNECTED');
    client.close();
    server.close();
  });

  it('fails a connected socket\'s next send with ECONNREFUSED after port unreachable', async () => {
    env = make();
    // Find a closed port: bind, note the port, close.
    const probe = env.server.dgram.createSocket('udp4');
    probe.bind(0);
    await once(probe, 'listening');
    const closedPort = probe.address().port;
    probe.close();
    await once(probe, 'close');
    const client = env.client.dgram.createSocket('udp4');
    client.connect(closedPort, env.serverAddress);
    await once(client, 'connect');
    const first = await new Promise<Error | null>((resolve) => client.send('x', (err) => resolve(err)));
    expect(first).toBeNull();
    // The port-unreachable reply arrives asynchronously; keep sending until a send reports it (bounded).
    let code: string | undefined;
    for (let i = 0; i < 50 && code === undefined; i++) {
      await new Promise((resolve) => setImmediate(resolve)); // let both paths' I/O run between sends
      const err = await new Promise<Error | null>((resolve) => client.send('y', (e) => resolve(e)));
      code = (err as { code?: string } | null)?.code;
    }
    expect(code).toBe('ECONNREFUSED');
    client.close();
  });

  it('throws and reports the same codes on misuse', async () => {
    env = make();
    const s = env.client.dgram.createSocket('udp4');
    expect(codeOf(() => s.address())).toBe('EBADF');
    expect(codeOf(() => s.setBroadcast(true))).toBe('EBADF');
    s.bind(0);
    await once(s, 'listening');
    expect(codeOf(() => s.bind(0))).toBe('ERR_SOCKET_ALREADY_BOUND');
    expect(codeOf(() => s.setTTL(0))).toBe('EINVAL');
    expect(s.setTTL(12)).toBe(12);
    expect(codeOf(() => s.send('x', 0, env.serverAddress))).toBe('ERR_SOCKET_BAD_PORT');
    const big = await new Promise<Error | null>((resolve) => s.send(Buffer.alloc(70_000), 9, env.serverAddress, (err) => resolve(err)));
    expect((big as { code?: string }).code).toBe('EMSGSIZE');
    // A second socket on the same port: 'error' with EADDRINUSE.
    const t = env.client.dgram.createSocket('udp4');
    const err = once<[Error & { code: string }]>(t, 'error');
    const taken = s.address().port;
    t.bind(taken);
    // Node's own form: message, errno, syscall, address and port (the kernel path is Node's).
    expect((await err)[0]).toMatchObject({ code: 'EADDRINUSE', errno: -98, syscall: 'bind', address: '0.0.0.0', port: taken, message: `bind EADDRINUSE 0.0.0.0:${taken}` });
    s.close();
    expect(codeOf(() => s.send('x', 9, env.serverAddress))).toBe('ERR_SOCKET_DGRAM_NOT_RUNNING');
    expect(codeOf(() => s.close())).toBe('ERR_SOCKET_DGRAM_NOT_RUNNING');
    t.close();
  });

  it('carries a large datagram whole (fragmented on the bypass path)', async () => {
    env = make();
    const server = env.server.dgram.createSocket('udp4');
    server.bind(0);
    await once(server, 'listening');
    const client = env.client.dgram.createSocket('udp4');
    const payload = Buffer.alloc(20_000, 0x5a);
    const got = once<[Buffer, { size: number }]>(server, 'message');
    client.send(payload, server.address().port, env.serverAddress);
    const [msg, rinfo] = await got;
    expect(rinfo.size).toBe(20_000);
    expect(msg.equals(payload)).toBe(true);
    client.close();
    server.close();
  });

  it('delivers datagrams at the size edges whole, never truncated, with rinfo.size', async () => {
    env = make();
    const server = env.server.dgram.createSocket('udp4');
    server.bind(0);
    await once(server, 'listening');
    const client = env.client.dgram.createSocket('udp4');
    const sizes = [0, 1, 1472, 1473, 8192, 65507];
    const got: Array<[number, number, boolean]> = [];
    const all = new Promise<void>((resolve) =>
      server.on('message', (msg: Buffer, rinfo: { size: number }) => {
        got.push([msg.length, rinfo.size, msg.every((b, i) => b === (i * 7) % 251)]);
        if (got.length === sizes.length) resolve();
      }),
    );
    for (const n of sizes) {
      const data = Buffer.alloc(n);
      for (let i = 0; i < n; i++) data[i] = (i * 7) % 251;
      await new Promise<void>((resolve, reject) => client.send(data, server.address().port, env.serverAddress, (err) => (err ? reject(err) : resolve())));
      await new Promise((resolve) => setImmediate(resolve)); // one in flight at a time keeps the order
    }
    await all;
    expect(got.sort((a, b) => a[0] - b[0])).toEqual(sizes.map((n) => [n, n, true]));
    client.close();
    server.close();
  });
});

describe.each(envs)('dgram send loop on the %s path', (_name, make) => {
  it('a sender that sends again from its send callback gets every datagram out', async () => {
    const env = make();
    try {
      const server = env.server.dgram.createSocket('udp4');
      server.bind(0);
      await once(server, 'listening');
      let received = 0;
      const all = new Promise<void>((resolve) => server.on('message', () => ++received === 200 && resolve()));
      const client = env.client.dgram.createSocket('udp4');
      let sent = 0;
      const next = (): void => {
        if (sent++ < 200) client.send('x', server.address().port, env.serverAddress, next);
      };
      next();
      await all;
      expect(received).toBe(200);
      client.close();
      server.close();
    } finally {
      env.close();
    }
  });

  it('a close a tick after sends: every send callback still runs, without an error; one in the same tick is dropped', async () => {
    const env = make();
    try {
      const sock = env.client.dgram.createSocket('udp4');
      sock.bind(0);
      await once(sock, 'listening');
      const results = Array.from({ length: 3 }, () =>
        new Promise<[Error | null, number]>((resolve) => sock.send('x', sock.address().port, env.clientAddress, (err, n) => resolve([err, n]))),
      );
      // node:dgram has handed them to the kernel one tick later (its lookup of a literal answers on the next
      // tick), and libuv then calls each callback even though the socket closes.
      await new Promise((resolve) => process.nextTick(resolve));
      // A send in the close's own tick is dropped without a callback, as node:dgram drops it.
      let lateCalled = false;
      sock.send('late', sock.address().port, env.clientAddress, () => (lateCalled = true));
      sock.close();
      expect(await Promise.all(results)).toEqual([
        [null, 1],
        [null, 1],
        [null, 1],
      ]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(lateCalled).toBe(false);
    } finally {
      env.close();
    }
  });

  it('from an event-loop callback: a close in the same callback drops its sends; one in a later tick or a microtask does not', async () => {
    const env = make();
    try {
      const sock = env.client.dgram.createSocket('udp4');
      sock.bind(0);
      await once(sock, 'listening');
      const port = sock.address().port;
      /** In a setImmediate callback: send 'a' (its callback recorded), then `then(...)`; resolves with the names called back. */
      const scenario = (then: (s: typeof sock) => void): Promise<string[]> =>
        new Promise((resolve) => {
          const s = env.client.dgram.createSocket('udp4');
          s.bind(0, () =>
            setImmediate(() => {
              const called: string[] = [];
              s.send('a', port, env.clientAddress, () => called.push('a'));
              then(s);
              setTimeout(() => resolve(called), 50);
            }),
          );
        });
      const sameCallback = scenario((s) => s.close());
      const laterTick = scenario((s) =>
        process.nextTick(() => {
          s.send('b', port, env.clientAddress, () => {});
          s.close();
        }),
      );
      const microtask = scenario((s) => void Promise.resolve().then(() => s.close()));
      expect(await sameCallback).toEqual([]);
      expect(await laterTick).toEqual(['a']);
      expect(await microtask).toEqual(['a']);
      sock.close();
    } finally {
      env.close();
    }
  });

  it("throws node:dgram's errors for misuse (class, code, message)", async () => {
    const env = make();
    try {
      await misuse(env);
    } finally {
      env.close();
    }
  });
});

/** node:dgram's misuse errors, asserted on either path (the kernel path's are node:dgram's own). */
async function misuse(env: Env): Promise<void> {
  const caught = (f: () => unknown): [string, string, string] => {
    try {
      f();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return [err.constructor.name, err.code ?? '', err.message];
    }
    return ['none', '', ''];
  };
  expect(caught(() => env.server.dgram.createSocket('udp5' as 'udp4'))).toEqual(['TypeError', 'ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6']);
  const s = env.server.dgram.createSocket('udp4');
  expect(caught(() => s.send(23 as unknown as string, 12345, env.serverAddress))).toEqual([
    'TypeError',
    'ERR_INVALID_ARG_TYPE',
    'The "buffer" argument must be of type string or an instance of Buffer, TypedArray, or DataView. Received type number (23)',
  ]);
  expect(caught(() => s.send('x', 0, env.serverAddress))).toEqual(['RangeError', 'ERR_SOCKET_BAD_PORT', 'Port should be > 0 and < 65536. Received type number (0).']);
  expect(caught(() => s.send(Buffer.from('abc'), 4, 1, 9, env.serverAddress))).toEqual(['RangeError', 'ERR_BUFFER_OUT_OF_BOUNDS', '"offset" is outside of buffer bounds']);
  s.bind(0, env.serverAddress);
  await once(s, 'listening');
  expect(caught(() => s.bind(0))).toEqual(['Error', 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound']);
  expect(caught(() => s.setTTL('foo' as unknown as number))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE', `The "ttl" argument must be of type number. Received type string ('foo')`]);
  expect(caught(() => s.setTTL(1000))).toEqual(['Error', 'EINVAL', 'setTTL EINVAL']);
  expect(caught(() => s.disconnect())).toEqual(['Error', 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected']);
  s.close();
  expect(caught(() => s.close())).toEqual(['Error', 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running']);
}
