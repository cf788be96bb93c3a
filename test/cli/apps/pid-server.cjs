// An ordinary node:http and node:dgram server (no byway in it) that answers with its process id, so a client can
// tell which process of several served it: HTTP on PORT (GET /peer/HOST:PORT first fetches http://HOST:PORT/ and
// answers "PID LOCALPORT BODY", the local port of its own outgoing connection; an IPv6 HOST goes in brackets,
// /peer/[fd00::1]:PORT), UDP on PORT+1 (any datagram is answered with the pid; `udp6` as the third argument binds a
// udp6 socket on PORT+1 too, IPv6 only, beside the udp4 one). It listens DELAY ms after it starts (default 0), as a
// server that connects to its database first would, and prints one line when it listens. DELAY `gate:PATH:INDEX`:
// the worker of `byway run --workers` with that index (BYWAY_WORKER) listens once the file PATH exists, the others
// at once; its HTTP connections then stay open 60 s between requests (keep-alive tests), not Node's 5 s.
// Usage: node pid-server.cjs PORT [DELAY] [udp6]
'use strict';
const http = require('node:http');
const dgram = require('node:dgram');
const port = Number(process.argv[2]);
const gate = /^gate:(.+):(\d+)$/.exec(process.argv[3] ?? '');
const delay = gate ? 0 : Number(process.argv[3] ?? 0);
const withUdp6 = process.argv[4] === 'udp6';
const server = http.createServer((req, res) => {
  if (!req.url.startsWith('/peer/')) return res.end(String(process.pid));
  const m = /^\/peer\/(?:\[([0-9a-fA-F:.]+)\]|([^:/]+)):(\d+)$/.exec(req.url);
  if (m === null) return res.end(`${process.pid} error EINVAL`);
  http
    .get({ host: m[1] ?? m[2], port: Number(m[3]), path: '/', agent: false }, (r) => {
      const local = r.socket.localPort;
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => res.end(`${process.pid} ${local} ${body}`));
    })
    .on('error', (e) => res.end(`${process.pid} error ${e.code}`));
});
const answer = (s) => s.on('message', (_m, from) => s.send(String(process.pid), from.port, from.address));
const udp = answer(dgram.createSocket('udp4'));
const udp6 = withUdp6 ? answer(dgram.createSocket({ type: 'udp6', ipv6Only: true })) : undefined;
let up = 0;
const one = () => ++up === (udp6 ? 3 : 2) && console.log(`listening ${port} pid ${process.pid}`);
const listen = () => {
  server.listen(port, one);
  udp.bind(port + 1, one);
  udp6?.bind(port + 1, one);
};
if (gate) {
  server.keepAliveTimeout = 60_000;
  const held = (process.env.BYWAY_WORKER ?? '').split('/')[0] === gate[2];
  const wait = () => (require('node:fs').existsSync(gate[1]) ? listen() : setTimeout(wait, 50));
  if (held) wait();
  else listen();
} else setTimeout(listen, delay);
