// An ordinary node:http load client (no byway in it): REQUESTS GETs of /n/<i> against BASE, CONCURRENCY at a time,
// the first KEEPALIVE of them over CONCURRENCY kept-alive connections, the rest each on its own connection
// (Connection: close). Every answer must be 200 with body "<i>" (the server echoes the path's number), so a lost,
// duplicated or crossed answer shows. Prints one JSON line: ok, bad (first few), errors, connections, ms.
// Usage: node http-load.cjs BASE REQUESTS CONCURRENCY KEEPALIVE
'use strict';
const http = require('node:http');
const [base, total, concurrency, keepAliveCount] = process.argv.slice(2).map((x, i) => (i === 0 ? x : Number(x)));
const kept = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const fresh = new http.Agent({ keepAlive: false, maxSockets: concurrency });
let connections = 0;
for (const a of [kept, fresh]) {
  const create = a.createConnection;
  a.createConnection = function (...args) {
    connections++;
    return create.apply(this, args);
  };
}
let next = 0;
let ok = 0;
const bad = [];
const errors = [];
const one = (i) =>
  new Promise((resolve) => {
    const agent = i < keepAliveCount ? kept : fresh;
    const req = http.get(`${base}/n/${i}`, { agent, headers: agent === fresh ? { connection: 'close' } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => {
        if (res.statusCode === 200 && body === String(i)) ok++;
        else if (bad.length < 5) bad.push({ i, status: res.statusCode, body: body.slice(0, 40) });
        resolve();
      });
    });
    req.setTimeout(20000, () => req.destroy(new Error('no answer in 20 s')));
    req.on('error', (err) => {
      if (errors.length < 5) errors.push(`${i}: ${err.code || ''} ${err.message}`);
      resolve();
    });
  });
const worker = async () => {
  while (next < total) await one(next++);
};
const started = Date.now();
Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
  kept.destroy();
  console.log(JSON.stringify({ ok, bad, errors, connections, ms: Date.now() - started }));
});
