/**
 * What an idle kernel TCP socket costs the kernel (the part of the kernel path's per-connection memory that a
 * process's RSS does not show), measured from /proc/slabinfo (root): open N connection pairs over loopback with
 * node:net, and divide the growth of the slab caches a socket uses by the number of sockets (2N).
 *
 *   node --expose-gc --import tsx bench/kernel-socket-memory.ts [--pairs N]     (default 4000)
 *
 * Slab caches are machine-wide, so other activity during the run adds noise; the script samples three times
 * (before, after opening, after closing) and reports the open-minus-before growth per socket for each cache.
 * Sockets buffers are not counted: an idle socket has none queued.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';

const CACHES = ['TCP', 'sock_inode_cache', 'filp', 'dentry', 'eventpoll_epi', 'eventpoll_pwq'];
const i = process.argv.indexOf('--pairs');
const pairs = i >= 0 ? Number(process.argv[i + 1]) : 4000;

function slab(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync('/proc/slabinfo', 'utf8').split('\n')) {
    const f = line.split(/\s+/);
    if (CACHES.includes(f[0]!)) out.set(f[0]!, Number(f[1]) * Number(f[3])); // active_objs x objsize
  }
  return out;
}

async function main(): Promise<void> {
  const server = net.createServer();
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const before = slab();
  const clients: net.Socket[] = [];
  for (let k = 0; k < pairs; k += 100) {
    const batch: Promise<void>[] = [];
    for (let j = k; j < Math.min(pairs, k + 100); j++) {
      const c = net.connect(port, '127.0.0.1');
      clients.push(c);
      batch.push(new Promise((r, e) => c.once('connect', () => r()).once('error', e)));
    }
    await Promise.all(batch);
  }
  while (accepted.length < pairs) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 200));
  const open = slab();
  for (const s of [...clients, ...accepted]) s.destroy();
  server.close();
  await new Promise((r) => setTimeout(r, 500));
  const after = slab();
  const sockets = 2 * pairs;
  let total = 0;
  const rows: string[] = [];
  for (const c of CACHES) {
    const grew = (open.get(c) ?? 0) - (before.get(c) ?? 0);
    total += grew;
    rows.push(`${c.padEnd(18)} ${(grew / sockets).toFixed(0).padStart(6)} B/socket  (after close: ${(((after.get(c) ?? 0) - (before.get(c) ?? 0)) / sockets).toFixed(0)})`);
  }
  console.log(`${sockets} idle loopback TCP sockets (${pairs} pairs), slab growth per socket:`);
  for (const r of rows) console.log(`  ${r}`);
  console.log(`  total              ${(total / sockets).toFixed(0).padStart(6)} B/socket`);
  console.log(JSON.stringify({ pairs, sockets, perSocket: Math.round(total / sockets) }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
