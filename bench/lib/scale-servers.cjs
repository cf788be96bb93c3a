/*
 * The servers bench/scale.ts measures on node:net, node:http and node:dgram (the kernel path's cluster workers,
 * scale-kernel.cjs, and the unmodified program `byway run --workers` runs, scale-plain.cjs): TCP echo on 7000,
 * HTTP on 8080 (a 17-byte body), UDP on 7001 (datagrams counted and dropped). `serve(host, ready)` calls `ready`
 * once all three listen and returns a function giving the datagrams received so far.
 */
exports.serve = (host, ready) => {
  const net = require('node:net');
  const http = require('node:http');
  const dgram = require('node:dgram');
  let udp = 0;
  let up = 0;
  const one = () => ++up === 3 && ready();
  net.createServer((s) => s.on('data', (b) => s.write(b)).on('error', () => {})).listen(7000, host, one);
  http.createServer((_req, res) => res.end('hello from byway\n')).listen(8080, host, one);
  const u = dgram.createSocket('udp4');
  u.on('message', () => udp++);
  u.bind(7001, host, one);
  return () => udp;
};
