// An ordinary undici client (no byway in it): downloads URL with undici's request() and with the global fetch()
// (Node's bundled undici), prints one JSON line with each body's size and SHA-256, and ends by itself: nothing
// calls process.exit, so the process lives only as long as its sockets and timers do. With LINGER=1 it prints
// 'done' and stays until SIGTERM instead (so that a test can read its counters). Usage: node undici-client.cjs URL
'use strict';
const crypto = require('node:crypto');
const { request } = require('undici');
const url = process.argv[2];
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
(async () => {
  const r = await request(url);
  const viaUndici = Buffer.from(await r.body.arrayBuffer());
  const f = await fetch(url);
  const viaFetch = Buffer.from(await f.arrayBuffer());
  console.log(JSON.stringify({
    undici: { status: r.statusCode, bytes: viaUndici.length, sha256: sha(viaUndici) },
    fetch: { status: f.status, bytes: viaFetch.length, sha256: sha(viaFetch) },
  }));
  if (process.env.LINGER === '1') {
    console.log('done');
    const t = setInterval(() => {}, 1000);
    process.once('SIGTERM', () => clearInterval(t));
  }
})().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.stack ? err.stack : err), cause: String(err && err.cause && (err.cause.stack || err.cause)) }));
  process.exitCode = 1;
});
