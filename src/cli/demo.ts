/**
 * `npm start`: two byway stacks on an in-memory link, no privileges needed. They resolve each other by ARP, ping,
 * exchange UDP datagrams (one large enough to be fragmented), and print what happened and the counters.
 *   npm start -- --pcap demo.pcap     also write every frame A sees to a pcap file (open it with tshark/Wireshark)
 */
import { memoryLink } from '../../drivers/memory/index.js';
import { pcapFile } from '../../drivers/middleware/index.js';
import type { FrameDriver } from '../../drivers/types.js';
import { formatIpv4, parseCidr, parseIpv4 } from '../../protocols/ipv4/address.js';
import { formatMac } from '../../protocols/ethernet/wire.js';
import { cryptoRng } from '../../protocols/util/rng.js';
import { NetStack } from '../stack/stack.js';
import { runStack } from '../runtime/run-stack.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const pcapPath = arg('--pcap');
  const [linkA, linkB] = memoryLink();
  const driverA: FrameDriver = pcapPath ? pcapFile(linkA, pcapPath) : linkA;
  const a = new NetStack({ driver: driverA, addresses: [parseCidr('10.0.0.1/24')!], rng: cryptoRng() });
  const b = new NetStack({ driver: linkB, addresses: [parseCidr('10.0.0.2/24')!], rng: cryptoRng() });
  const ra = runStack(a);
  const rb = runStack(b);
  const ipB = parseIpv4('10.0.0.2')!;
  console.log(`A 10.0.0.1 ${formatMac(a.mac)}  <-- in-memory link -->  B 10.0.0.2 ${formatMac(b.mac)}`);

  for (let i = 0; i < 3; i++) {
    const r = await ra.ping(ipB, { size: 56 });
    if (!r.ok) throw r.error;
    console.log(`ping 10.0.0.2: seq=${r.seq} bytes=${r.bytes} ttl=${r.ttl} time=${r.rttMs.toFixed(3)} ms`);
  }
  const arpEntry = a.neighbours.entriesSnapshot()[0];
  if (arpEntry) console.log(`A's neighbour cache: ${formatIpv4(arpEntry.ip)} is at ${formatMac(arpEntry.mac!)} (${arpEntry.state})`);

  // UDP: B echoes whatever it receives back to the sender.
  const server = b.udp.createSocket();
  server.bind(0, 7);
  server.onMessage = (data, srcIp, srcPort) => {
    server.send(rb.clock.now(), data, srcIp, srcPort);
    rb.poke();
  };
  const client = a.udp.createSocket();
  const replies: number[] = [];
  const done = new Promise<void>((resolve) => {
    client.onMessage = (data, srcIp, srcPort) => {
      replies.push(data.length);
      console.log(`udp: ${data.length} bytes echoed by ${formatIpv4(srcIp)}:${srcPort}`);
      if (replies.length === 3) resolve();
    };
  });
  for (const size of [5, 1400, 4000]) {
    client.send(ra.clock.now(), new TextEncoder().encode('hello byway '.repeat(Math.ceil(size / 12))).subarray(0, size), ipB, 7);
    ra.poke();
  }
  await done;
  console.log(`udp: client port ${client.localPort} (ephemeral, RFC 6056), 4000-byte datagram sent as ${a.stats.ipv4.fragmentsSent} fragments each way`);

  ra.stop();
  rb.stop();
  driverA.close();
  linkB.close();
  const s = a.stats;
  console.log(
    `A stats: ethernet rx ${s.ethernet.rx} tx ${s.ethernet.tx}; arp requests ${s.arp.neighbour.requestsSent} replies ${s.arp.repliesReceived}; ` +
      `ipv4 rx ${s.ipv4.rx} tx ${s.ipv4.tx} reassembled ${s.ipv4.reassembly.reassembled}; icmp echo replies ${s.icmp.echoReplies}; udp rx ${s.udp.rx} tx ${s.udp.tx}`,
  );
  if (pcapPath) console.log(`capture written to ${pcapPath} (tshark -r ${pcapPath})`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
