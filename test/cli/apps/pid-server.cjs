// An ordinary node:http and node:dgram server (no byway in it) that answers with its process id, so a client can
// tell which process of several served it: HTTP on PORT (GET /peer/HOST:PORT first fetches http://HOST:PORT/ and
// answers "PID LOCALPORT BODY", the local port of its own outgoing connection), UDP on PORT+1 (any datagram is
// answered with the pid). It listens DELAY ms after it starts (default 0), as a server that connects to its
// database first would, and prints one line when it listens. Usage: node pid-server.cjs PORT [DELAY]
'use strict';
const http = require('node:http');
const dgram = require('node:dgram');
const port = Number(process.argv[2]);
const delay = Number(process.argv[3] ?? 0);
const server = http.createServer((req, res) => {
  if (!req.url.startsWith('/peer/')) return res.end(String(process.pid));
  const [host, peerPort] = req.url.slice(6).split(':');
  http
    .get({ host, port: Number(peerPort), path: '/', agent: false }, (r) => {
      const local = r.socket.localPort;
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => res.end(`${process.pid} ${local} ${body}`));
    })
    .on('error', (e) => res.end(`${process.pid} error ${e.code}`));
});
const udp = dgram.createSocket('udp4');
udp.on('message', (_m, from) => udp.send(String(process.pid), from.port, from.address));
let up = 0;
const one = () => ++up === 2 && console.log(`listening ${port} pid ${process.pid}`);
setTimeout(() => {
  server.listen(port, one);
  udp.bind(port + 1, one);
}, delay);
