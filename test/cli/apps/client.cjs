// An ordinary client (no byway in it): fetch() a blob over HTTP and hash it, ask a node:net server which address
// it sees, send one DNS query with node:dgram; print the results as one JSON line, then stay up for STAY_MS so its
// counters can be read. Usage: node client.cjs SERVER HTTP_PORT NET_PORT DNS_PORT STAY_MS
'use strict';
const net = require('node:net');
const dgram = require('node:dgram');
const crypto = require('node:crypto');
const [server, httpPort, netPort, dnsPort, stayMs] = process.argv.slice(2);

function askPeer() {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(netPort), server);
    let text = '';
    s.setEncoding('utf8').on('data', (d) => (text += d));
    s.on('end', () => resolve({ seenAs: text.trim(), local: s.localAddress }));
    s.on('error', reject);
  });
}

function dns() {
  return new Promise((resolve, reject) => {
    const u = dgram.createSocket('udp4');
    const q = Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 0x74, 0x65, 0x73, 0x74, 0, 0, 1, 0, 1]);
    const t = setTimeout(() => reject(new Error('no DNS answer')), 5000);
    u.on('message', (m) => {
      clearTimeout(t);
      resolve({ answer: [...m.subarray(m.length - 4)].join('.') });
      u.close();
    });
    u.send(q, Number(dnsPort), server);
  });
}

(async () => {
  const res = await fetch(`http://${server}:${httpPort}/big`);
  const body = Buffer.from(await res.arrayBuffer());
  const sha256 = crypto.createHash('sha256').update(body).digest('hex');
  const peer = await askPeer();
  const answer = await dns();
  console.log(JSON.stringify({ status: res.status, bytes: body.length, sha256, seenBy: res.headers.get('x-peer'), peer, dns: answer }));
  setTimeout(() => process.exit(0), Number(stayMs));
})().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.stack ? err.stack : err), cause: String(err && err.cause && (err.cause.stack || err.cause)) }));
  process.exit(1);
});
