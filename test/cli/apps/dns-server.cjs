// An ordinary node:dgram DNS responder (no byway in it): answers every A query with 10.0.0.99 (TTL 60), echoing
// the question. Prints one line when bound. Usage: node dns-server.cjs PORT
'use strict';
const dgram = require('node:dgram');
const port = Number(process.argv[2]);
const sock = dgram.createSocket('udp4');
sock.on('message', (q, rinfo) => {
  if (q.length < 17) return;
  let end = 12;
  while (end < q.length && q[end] !== 0) end += q[end] + 1;
  end += 5; // the root label, QTYPE, QCLASS
  if (end > q.length) return;
  const header = Buffer.from([q[0], q[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 99]);
  sock.send(Buffer.concat([header, q.subarray(12, end), answer]), rinfo.port, rinfo.address);
});
sock.bind(port, () => console.log(`bound ${port}`));
