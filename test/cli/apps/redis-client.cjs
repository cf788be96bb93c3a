// An ordinary ioredis client (no byway in it): 10k pipelined SETs then 10k pipelined GETs, checked, and 100
// messages over pub/sub; prints one JSON line (with whether both connections are `instanceof net.Socket`), then stays up for STAY_MS so its counters can be read.
// Usage: node redis-client.cjs HOST PORT STAY_MS
'use strict';
const net = require('node:net');
const { Redis } = require('ioredis');
const [host, port, stayMs] = process.argv.slice(2);
const N = 10_000;
(async () => {
  const opts = { host, port: Number(port), maxRetriesPerRequest: 1, retryStrategy: () => null };
  const r = new Redis(opts);
  const sub = new Redis(opts);
  const set = r.pipeline();
  for (let i = 0; i < N; i++) set.set(`k${i}`, `v${i}`.repeat(10));
  const setReplies = await set.exec();
  const get = r.pipeline();
  for (let i = 0; i < N; i++) get.get(`k${i}`);
  const got = await get.exec();
  let getsOk = 0;
  got.forEach(([err, v], i) => (getsOk += !err && v === `v${i}`.repeat(10) ? 1 : 0));
  const messages = [];
  const all = new Promise((resolve) =>
    sub.on('message', (ch, m) => {
      messages.push(m);
      if (messages.length === 100) resolve();
    }),
  );
  await sub.subscribe('news');
  for (let i = 0; i < 100; i++) await r.publish('news', `m${i}`);
  await all;
  const inOrder = messages.every((m, i) => m === `m${i}`);
  console.log(JSON.stringify({ setsOk: setReplies.filter(([err, v]) => !err && v === 'OK').length, getsOk, messages: messages.length, inOrder, netSockets: r.stream instanceof net.Socket && sub.stream instanceof net.Socket }));
  setTimeout(() => {
    r.disconnect();
    sub.disconnect();
  }, Number(stayMs));
})().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }));
  process.exit(1);
});
