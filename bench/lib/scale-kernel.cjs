/*
 * The kernel path for bench/scale.ts: Node's cluster with N worker processes (argv[2]), each with the servers of
 * scale-servers.cjs (those of bench/lib/scale-worker.ts, on node:net, node:http and node:dgram), bound to argv[3]. Node's defaults: the primary
 * accepts TCP connections and hands them round robin to the workers (SCHED_RR on Linux), and the workers share one
 * UDP socket. Reads lines on stdin: "count" prints one JSON line with the datagrams received and the CPU time
 * (user + system, ms) and the context switches (voluntary, involuntary) of every process so far. Prints "ready"
 * when every worker listens.
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
          const u = process.resourceUsage();
          let udp = 0;
          let cpuMs = (u.userCPUTime + u.systemCPUTime) / 1000;
          let vcsw = u.voluntaryContextSwitches;
          let ivcsw = u.involuntaryContextSwitches;
          for (const r of replies.values()) {
            udp += r.udp;
            cpuMs += r.cpuMs;
            vcsw += r.vcsw;
            ivcsw += r.ivcsw;
          }
          replies.clear();
          console.log(JSON.stringify({ udp, cpuMs, vcsw, ivcsw, asked }));
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
  const udp = require('./scale-servers.cjs').serve(host, () => process.send({ type: 'listening' }));
  process.on('message', (m) => {
    if (m.type === 'count') {
      const c = process.resourceUsage();
      process.send({ type: 'count', udp: udp(), cpuMs: (c.userCPUTime + c.systemCPUTime) / 1000, vcsw: c.voluntaryContextSwitches, ivcsw: c.involuntaryContextSwitches });
    }
  });
}
