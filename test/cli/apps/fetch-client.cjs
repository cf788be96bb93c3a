// An ordinary fetch() client (no byway in it): downloads each URL given, prints one JSON line per URL with the
// status, the size and the SHA-256 of the body, then exits. Usage: node fetch-client.cjs URL...
'use strict';
const crypto = require('node:crypto');
(async () => {
  for (const url of process.argv.slice(2)) {
    const res = await fetch(url);
    const body = Buffer.from(await res.arrayBuffer());
    console.log(JSON.stringify({ url, status: res.status, bytes: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') }));
  }
})().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.stack ? err.stack : err), cause: String(err && err.cause && (err.cause.stack || err.cause)) }));
  process.exit(1);
});
