// An ordinary client (no byway in it): fetch() URL and report the address the server saw (x-peer), then ask a
// node:net server at HOST:PORT which address it sees; prints one JSON line and ends by itself.
// Usage: node netns-client.cjs URL HOST PORT
'use strict';
const net = require('node:net');
const [url, host, port] = process.argv.slice(2);
(async () => {
  const res = await fetch(url);
  const body = await res.text();
  const peer = await new Promise((resolve, reject) => {
    const s = net.connect(Number(port), host);
    let text = '';
    s.setEncoding('utf8').on('data', (d) => (text += d));
    s.on('end', () => resolve(text.trim()));
    s.on('error', reject);
  });
  console.log(JSON.stringify({ status: res.status, body, seenBy: res.headers.get('x-peer'), peer }));
})().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.stack ? err.stack : err), cause: String(err && err.cause && (err.cause.stack || err.cause)) }));
  process.exitCode = 1;
});
