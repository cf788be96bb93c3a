// An ordinary node:net server (no byway in it): tells each client the address it connected from, then closes.
// Usage: node echo-peer-server.cjs PORT
'use strict';
const net = require('node:net');
const port = Number(process.argv[2]);
net.createServer((s) => s.end(`${String(s.remoteAddress).replace(/^::ffff:/, "")}\n`)).listen(port, () => console.log(`listening ${port}`));
