/** The README's examples, run as written (modulo printing), so the front page cannot rot. */
import http from 'node:http';
import { expect, it } from 'vitest';
import { createStack, memoryLink, NetStack, VirtualClock, runUntil, seededRng, parseCidr, parseIpv4, type PingResult } from '../src/index.js';

it('the createStack example serves HTTP and pings', async () => {
  const [wireA, wireB] = memoryLink();
  const client = createStack({ driver: wireA, address: '10.0.0.1/24' });
  const server = createStack({ driver: wireB, address: '10.0.0.2/24' });
  const app = http.createServer((_req, res) => res.end('hello from byway\n'));
  server.net.createServer((sock) => app.emit('connection', sock)).listen(80, '10.0.0.2');
  const pong = await client.ping('10.0.0.2');
  expect(pong).toMatchObject({ ttl: 64, bytes: 56, from: '10.0.0.2' });
  const body = await new Promise<string>((resolve) =>
    http.get({ host: '10.0.0.2', path: '/', createConnection: () => client.net.createConnection({ port: 80, host: '10.0.0.2' }) as never }, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve(t));
    }),
  );
  expect(body).toBe('hello from byway\n');
  app.close();
  client.close();
  server.close();
});

it('the virtual-clock example replays a ping', () => {
  const [da, db] = memoryLink();
  const a = new NetStack({ driver: da, addresses: [parseCidr('10.0.0.1/24')!], rng: seededRng(1) });
  const b = new NetStack({ driver: db, addresses: [parseCidr('10.0.0.2/24')!], rng: seededRng(2) });
  const clock = new VirtualClock();
  let result: PingResult | undefined;
  a.ping(clock.now(), parseIpv4('10.0.0.2')!, {}, (r) => (result = r));
  runUntil(clock, [a, b]);
  expect(result).toMatchObject({ ok: true, rttMs: 0 });
});
