/*
 * The kernel path for bench/scale.ts: Node's cluster with N worker processes (argv[2]), each with the same servers as
 * bench/lib/scale-worker.ts on node:net, node:http and node:dgram, bound to argv[3]. Node's defaults: the primary
 * accepts TCP connections and hands them round robin to the workers (SCHED_RR on Linux), and the workers share one
 * UDP socket. Reads lines on stdin: "count" prints one JSON line with the datagrams received and the CPU time
 * (user + system, ms) of every process so far. Prints "ready" when every worker listens.
 */
const cluster = require('node:cluster');
const n = Number(process.argv[2]);
const host = process.argv[3];
if (cluster.isPrimary) {
  let listening = 0;
  const ws = [];
  for (let i = 0; i < n; i++) ws.push(cluster.fork());
  const replies = new Map();
  let asked = 0;
  for (const w of ws) {
    w.on('message', (m) => {
      if (m.type === 'listening' && ++listening === n) console.log('ready');
      if (m.type === 'count') {
        replies.set(w.id, m);
        if (replies.size === n) {
          const u = process.cpuUsage();
          let udp = 0;
          let cpuMs = (u.user + u.system) / 1000;
          for (const r of replies.values()) {
            udp += r.udp;
            cpuMs += r.cpuMs;
          }
          replies.clear();
          console.log(JSON.stringify({ udp, cpuMs, asked }));
        }
      }
    });
  }
  require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
    if (l.trim() === 'count') {
      asked++;
      for (const w of ws) w.send({ type: 'count' });
    }
  });
  process.stdin.on('end', () => process.exit(0));
} else {
  const net = require('node:net');
  const http = require('node:http');
  const dgram = require('node:dgram');
  let udp = 0;
  let up = 0;
  const ready = () => ++up === 3 && process.send({ type: 'listening' });
  net.createServer((s) => s.on('data', (b) => s.write(b)).on('error', () => {})).listen(7000, host, ready);
  http.createServer((_req, res) => res.end('hello from byway\n')).listen(8080, host, ready);
  const u = dgram.createSocket('udp4');
  u.on('message', () => udp++);
  u.bind(7001, host, ready);
  process.on('message', (m) => {
    if (m.type === 'count') {
      const c = process.cpuUsage();
      process.send({ type: 'count', udp, cpuMs: (c.user + c.system) / 1000 });
    }
  });
}
