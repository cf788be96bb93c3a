// An ordinary node:http server (no byway in it) that answers each request with its process id, so a client can
// tell which process of several served it. Prints one line when it listens. Usage: node pid-server.cjs PORT
'use strict';
const http = require('node:http');
const port = Number(process.argv[2]);
const server = http.createServer((req, res) => res.end(String(process.pid)));
server.listen(port, () => console.log(`listening ${port} pid ${process.pid}`));
