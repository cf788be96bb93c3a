// An ordinary node:http server (no byway in it): GET /big answers SIZE deterministic bytes, /n/<i> answers "<i>"
// (so a load client can match each answer to its request), anything else "ok".
// Each answer says in x-net-socket whether its socket is `instanceof net.Socket`, as libraries check.
// It prints one line when it listens and answers until killed. Usage: node http-server.cjs PORT SIZE
'use strict';
const http = require('node:http');
const net = require('node:net');
const port = Number(process.argv[2]);
const size = Number(process.argv[3]);
const body = Buffer.alloc(size);
for (let i = 0; i < size; i++) body[i] = (i * 7 + 3) & 0xff;
const server = http.createServer((req, res) => {
  res.setHeader('x-peer', String(req.socket.remoteAddress).replace(/^::ffff:/, ''));
  res.setHeader('x-net-socket', String(req.socket instanceof net.Socket));
  if (req.url.startsWith('/n/')) res.end(req.url.slice(3));
  else res.end(req.url === '/big' ? body : 'ok\n');
});
server.listen(port, () => console.log(`listening ${port}`));
