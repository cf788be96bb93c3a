/**
 * The kernel TCP sender of the bulk-receive measurements that do not go through bench/run.ts's sides
 * (bench/rx-bulk-veth.ts; the floor path's tcp-bulk-rx-1 in bench/lib/floor-path.ts): a `node -e` script for
 * namespace B, `conns` node:net connections to argv[1]:port writing 64 KiB chunks as fast as the socket takes
 * them, as bench/lib/workloads.ts's tcpBulkSend does, until killed.
 */
export function bulkSenderScript(port: number, conns: number): string {
  return `
const net = require('node:net');
const chunk = Buffer.alloc(65536, 0x64);
for (let i = 0; i < ${conns}; i++) {
  const s = net.connect(${port}, process.argv[1]);
  const pump = () => { while (s.write(chunk)); };
  s.on('connect', pump); s.on('drain', pump); s.on('error', () => {});
}`;
}
