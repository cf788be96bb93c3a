// An ordinary ws server on a node:http server (no byway in it): echoes every message, prints one line when it
// listens. Usage: node ws-server.cjs PORT
'use strict';
const http = require('node:http');
const { WebSocketServer } = require('ws');
const server = http.createServer((_req, res) => res.end('ws here\n'));
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
server.listen(Number(process.argv[2]), () => console.log(`listening ${process.argv[2]}`));
