// An ordinary fetch() client (no byway in it): downloads each URL given, prints one JSON line per URL with the
// status, the size and the SHA-256 of the body, then exits; with LINGER=1 it prints 'done' and stays until
// SIGTERM instead (so that a test can read its counters). Usage: node fetch-client.cjs URL...
'use strict';
const crypto = require('node:crypto');
(async () => {
  for (const url of process.argv.slice(2)) {
    const res = await fetch(url);
    const body = Buffer.from(await res.arrayBuffer());
    console.log(JSON.stringify({ url, status: res.status, bytes: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') }));
  }
  if (process.env.LINGER === '1') {
    console.log('done');
    const t = setInterval(() => {}, 1000);
    process.once('SIGTERM', () => clearInterval(t));
  }
})().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.stack ? err.stack : err), cause: String(err && err.cause && (err.cause.stack || err.cause)) }));
  process.exit(1);
});
