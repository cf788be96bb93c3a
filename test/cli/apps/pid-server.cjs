// An ordinary node:http server (no byway in it) that answers each request with its process id, so a client can
// tell which process of several served it. It listens DELAY ms after it starts (default 0), as a server that
// connects to its database first would, and prints one line when it listens. Usage: node pid-server.cjs PORT [DELAY]
'use strict';
const http = require('node:http');
const port = Number(process.argv[2]);
const delay = Number(process.argv[3] ?? 0);
const server = http.createServer((req, res) => res.end(String(process.pid)));
setTimeout(() => server.listen(port, () => console.log(`listening ${port} pid ${process.pid}`)), delay);
