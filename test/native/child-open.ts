// Child process for exit-cleanup tests: opens drivers in the namespace given in argv, prints READY, then ends
// without closing them. argv: ns veth how tapName, how = 'exit' | 'throw' | 'hang' (waits to be killed) |
// 'worker' (a worker thread opens them and exits; this process stays alive and prints WORKER-DONE).
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { openAfXdp } from '../../drivers/af-xdp/index.js';
import { openTap } from '../../drivers/tap/index.js';
import { openAfPacket } from '../../drivers/af-packet/index.js';

const [ns, veth, how, tapName] = process.argv.slice(2) as [string, string, string, string];
if (how === 'worker' && isMainThread) {
  // Workers do not inherit tsx's loader on Node 20: register it inside the worker, then import this file.
  const src = `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const w = new Worker(src, { eval: true, argv: [ns, veth, 'worker', tapName] });
  w.on('message', (m) => process.stdout.write(`${m}\n`));
  w.on('exit', () => {
    process.stdout.write('WORKER-DONE\n');
    setInterval(() => {}, 1000);
  });
} else {
  openAfXdp({ ifname: veth, netns: ns, ipv4: '10.77.7.2', bindMode: 'copy' });
  openAfPacket({ ifname: veth, netns: ns });
  const tap = openTap({ name: tapName, netns: ns });
  tap.setReadyCallback(() => {});
  if (parentPort) {
    parentPort.postMessage('READY');
    process.exit(0); // ends only this worker
  }
  process.stdout.write('READY\n');
  if (how === 'exit') process.exit(0);
  else if (how === 'throw') setImmediate(() => { throw new Error('boom (on purpose)'); });
  else setInterval(() => {}, 1000);
}
