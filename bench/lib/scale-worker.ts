/**
 * A byway cluster worker for bench/scale.ts: TCP echo on 7000, node:http on byway's TCP on 8080 (a 17-byte body),
 * UDP on 7001 (datagrams received and dropped after the 'message' event; the stack's udp.rx counts them).
 */
import http from 'node:http';
import { clusterWorker } from '../../src/cluster/index.js';

const { stack } = clusterWorker()!;
stack.net.createServer((s) => s.on('data', (b: Buffer) => s.write(b)).on('error', () => {})).listen(7000);
const app = http.createServer((_req, res) => res.end('hello from byway\n'));
stack.net.createServer((s) => app.emit('connection', s.on('error', () => {}))).listen(8080);
const u = stack.dgram.createSocket('udp4');
u.on('message', () => {});
u.bind(7001);
