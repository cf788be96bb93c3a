// Child process for af-xdp-queues.test.ts: joins the XDP program of its parent through the XSKMAP descriptor it
// inherited as fd 3 (spawn's stdio), binds receive queue 1, prints BOUND, then counts the UDP datagrams to the
// port given for 2 s and prints COUNT n. argv: ns ifname ipv4 port.
import { openAfXdp } from '../../drivers/af-xdp/index.js';

const [ns, ifname, ipv4, port] = process.argv.slice(2) as [string, string, string, string];
const d = openAfXdp({ ifname, netns: ns, ipv4, queue: 1, queues: 2, bindMode: 'copy', xskMapFd: 3 });
process.stdout.write('BOUND\n');
let n = 0;
const end = Date.now() + 2_000;
const t = setInterval(() => {
  d.receive(0, 64, (f) => {
    if (f[12] === 0x08 && f[13] === 0x00 && f[23] === 17 && ((f[36]! << 8) | f[37]!) === Number(port)) n++;
  });
  if (Date.now() > end) {
    clearInterval(t);
    process.stdout.write(`COUNT ${n}\n`);
    d.close();
  }
}, 10);
