/**
 * `npm start`: two byway stacks on an in-memory link, no privileges needed. They resolve each other by ARP, ping,
 * exchange UDP datagrams (one large enough to be fragmented), then B serves HTTP over byway's TCP and A fetches from
 * it with node:http, printing what happened and the counters.
 *   npm start -- --pcap demo.pcap     also write every frame A sees to a pcap file (open it with tshark/Wireshark)
 */
import http from 'node:http';
import { memoryLink } from '../../drivers/memory/index.js';
import { pcapFile } from '../../drivers/middleware/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { formatIpv4 } from '../../protocols/ipv4/address.js';
import { formatMac } from '../../protocols/ethernet/wire.js';
import { createStack } from '../api/stack.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const pcapPath = arg('--pcap');
  const [linkA, linkB] = memoryLink();
  const driverA: FrameDriver = pcapPath ? pcapFile(linkA, pcapPath) : linkA;
  const a = createStack({ driver: driverA, address: '10.0.0.1/24' });
  const b = createStack({ driver: linkB, address: '10.0.0.2/24' });
  console.log(`A 10.0.0.1 ${formatMac(a.core.mac)}  <-- in-memory link -->  B 10.0.0.2 ${formatMac(b.core.mac)}`);

  for (let i = 0; i < 3; i++) {
    const r = await a.ping('10.0.0.2', { size: 56 });
    console.log(`ping 10.0.0.2: seq=${r.seq} bytes=${r.bytes} ttl=${r.ttl} time=${r.rttMs.toFixed(3)} ms`);
  }
  const arpEntry = a.core.neighbours.entriesSnapshot()[0];
  if (arpEntry) console.log(`A's neighbour cache: ${formatIpv4(arpEntry.ip)} is at ${formatMac(arpEntry.mac!)} (${arpEntry.state})`);

  // UDP: B echoes whatever it receives.
  const echo = b.dgram.createSocket('udp4');
  echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => echo.bind(7, resolve));
  const client = a.dgram.createSocket('udp4');
  const got = new Promise<void>((resolve) => {
    let n = 0;
    client.on('message', (msg, rinfo) => {
      console.log(`udp: ${msg.length} bytes echoed by ${rinfo.address}:${rinfo.port}`);
      if (++n === 3) resolve();
    });
  });
  for (const size of [5, 1400, 4000]) client.send(Buffer.alloc(size, 'byway '), 7, '10.0.0.2');
  await got;
  console.log(`udp: client port ${client.address().port} (ephemeral, RFC 6056); the 4000-byte datagram went as IPv4 fragments`);

  // TCP: node:http served and fetched over byway connections.
  const httpServer = http.createServer((req, res) => res.end(`hello from byway, you asked for ${req.url}\n`));
  const listener = b.net.createServer((sock) => httpServer.emit('connection', sock));
  await new Promise<void>((resolve) => listener.listen(80, '10.0.0.2', resolve));
  const body = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '10.0.0.2', port: 80, path: '/demo', createConnection: () => a.net.createConnection({ port: 80, host: '10.0.0.2' }) as never }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(`${res.statusCode} ${text.trim()}`));
    });
    req.on('error', reject);
    req.end();
  });
  console.log(`http: GET http://10.0.0.2/demo -> ${body}`);
  const conn = a.connections()[0];
  if (conn) console.log(`tcp: ${conn.localAddress}:${conn.localPort} -> ${conn.remoteAddress}:${conn.remotePort} ${conn.state}, srtt ${conn.info.srtt?.toFixed(2)} ms, cwnd ${conn.info.cwnd} bytes`);

  const s = a.stats;
  console.log(
    `A stats: ethernet rx ${s.ethernet.rx} tx ${s.ethernet.tx}; arp requests ${s.arp.neighbour.requestsSent}; ` +
      `ipv4 rx ${s.ipv4.rx} tx ${s.ipv4.tx} fragments sent ${s.ipv4.fragmentsSent} reassembled ${s.ipv4.reassembly.reassembled}; ` +
      `icmp echo replies ${s.icmp.echoReplies}; udp rx ${s.udp.rx} tx ${s.udp.tx}; tcp segments in ${s.tcp?.segsIn} out ${s.tcp?.segsOut}`,
  );
  httpServer.close();
  a.close();
  b.close();
  if (pcapPath) console.log(`capture written to ${pcapPath} (tshark -r ${pcapPath})`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
