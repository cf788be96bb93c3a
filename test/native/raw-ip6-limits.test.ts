/**
 * Why the raw-IP driver carries no IPv6 (issue #18, docs/drivers.md): what Linux and the raw-socket package give
 * an AF_INET6 raw socket, measured in namespaces this test creates (A: fd7d::1/64, B: fd7d::2/64, a veth pair).
 * A child process in A (raw-socket has no namespace option) opens raw-socket's AF_INET6 sockets for UDP and TCP,
 * and one with IPPROTO_RAW; B sends a UDP datagram and a TCP SYN to A. Measured:
 * - receive: the bytes start at the UDP (or TCP) header: no IPv6 header (no destination address, hop limit,
 *   traffic class, flow label or extension headers), and raw-socket reads with recvfrom, so no IPV6_PKTINFO
 *   ancillary data brings the destination back either; the kernel also handles each packet itself (its port
 *   unreachable and RST reach B: nstat in A counts them);
 * - transmit: IPPROTO_RAW on AF_INET6 takes a whole packet, IPv6 header included (as IP_HDRINCL does for IPv4),
 *   and B receives the datagram byway would have built.
 * Bounded in time; skipped with a reason when unprivileged or without raw-socket.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { NetLab, describePrivileged, execIn, execInAsync, ipIn } from '../helpers/netns.js';
import { enableIpv6 } from './ipv6-lab.js';

let rawSocketPath: string | undefined;
try {
  rawSocketPath = createRequire(import.meta.url).resolve('raw-socket');
} catch {
  rawSocketPath = undefined;
}

/** In A: raw UDP and TCP sockets; prints one JSON line per packet, then exits after argv[1] packets. */
const RECEIVER = `
const raw = require(process.argv[1]);
const want = +process.argv[2];
let got = 0;
for (const protocol of [17, 6]) {
  const s = raw.createSocket({ protocol, addressFamily: raw.AddressFamily.IPv6 });
  s.on('message', (b, source) => {
    console.log(JSON.stringify({ protocol, len: b.length, first: [...b.subarray(0, 4)], source }));
    if (++got === want) process.exit(0);
  });
}
console.log('ready');
setTimeout(() => process.exit(1), 8000);
`;

/** In A: a whole IPv6+UDP packet (header built here) sent on an IPPROTO_RAW AF_INET6 socket to argv[2]. */
const SENDER = `
const raw = require(process.argv[1]);
const s = raw.createSocket({ protocol: 255, addressFamily: raw.AddressFamily.IPv6 });
const src = Buffer.from('fd7d0000000000000000000000000001', 'hex'), dst = Buffer.from('fd7d0000000000000000000000000002', 'hex');
const data = Buffer.from('whole packet from A');
const udp = Buffer.alloc(8 + data.length);
udp.writeUInt16BE(40000, 0); udp.writeUInt16BE(7500, 2); udp.writeUInt16BE(udp.length, 4); data.copy(udp, 8);
let sum = 0;
const add = (b) => { for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (b[i + 1] ?? 0); };
add(src); add(dst); sum += udp.length + 17; add(udp);
while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
udp.writeUInt16BE((~sum & 0xffff) || 0xffff, 6);
const ip = Buffer.alloc(40);
ip[0] = 0x60; ip.writeUInt16BE(udp.length, 4); ip[6] = 17; ip[7] = 64; src.copy(ip, 8); dst.copy(ip, 24);
const p = Buffer.concat([ip, udp]);
s.send(p, 0, p.length, 'fd7d::2', (e, n) => { console.log(e ? 'error ' + e.message : 'sent ' + n); process.exit(e ? 1 : 0); });
`;

/** In B: a udp6 socket on port 7500 printing the first datagram, and the sender of the probes. */
const LISTENER = `
const s = require('node:dgram').createSocket('udp6');
s.on('message', (m, r) => { console.log('got', JSON.stringify(m.toString()), r.address, r.port); process.exit(0); });
s.bind(7500, () => console.log('ready'));
setTimeout(() => process.exit(1), 8000);
`;
const PROBES = `
require('node:dgram').createSocket('udp6').send(Buffer.alloc(50, 7), 9999, 'fd7d::1', () => {
  const c = require('node:net').connect(9998, 'fd7d::1');
  c.on('error', (e) => { console.log('tcp', e.code); process.exit(0); });
});
`;

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const nstat = (ns: string, name: string): number => Number(new RegExp(`${name}\\s+(\\d+)`).exec(execIn(ns, 'nstat', ['-az', name]))?.[1] ?? NaN);

describePrivileged(`what an AF_INET6 raw socket gives (why raw IP carries no IPv6)${rawSocketPath ? '' : ' (raw-socket missing)'}`, () => {
  const lab = new NetLab();
  let nsA = '';
  let nsB = '';
  beforeAll(() => {
    nsA = lab.addNetns();
    nsB = lab.addNetns();
    const link = lab.addVeth(nsA, nsB);
    enableIpv6(nsA, link.a);
    enableIpv6(nsB, link.b);
    ipIn(nsA, `-6 addr add fd7d::1/64 dev ${link.a} nodad`);
    ipIn(nsB, `-6 addr add fd7d::2/64 dev ${link.b} nodad`);
  }, 20_000);
  afterAll(async () => {
    await lab.stopProcesses();
    lab.destroy();
  });

  it('receive: no IPv6 header and no destination (recvfrom); the kernel answers the same packets itself', async () => {
    expect(rawSocketPath, 'the optional raw-socket package').toBeDefined();
    const unreachBefore = nstat(nsA, 'Icmp6OutDestUnreachs');
    const rstBefore = nstat(nsA, 'TcpOutRsts');
    const rx = lab.spawnIn(nsA, process.execPath, ['-e', RECEIVER, rawSocketPath!, '2']);
    await until('the raw receiver', 5000, () => rx.output().includes('ready'));
    const probes = await execInAsync(nsB, process.execPath, ['-e', PROBES], { timeoutMs: 8000 });
    expect(probes.stdout).toContain('tcp ECONNREFUSED'); // the kernel's RST
    await until('two raw packets', 5000, () => rx.output().trim().split('\n').length >= 3);
    const seen = rx
      .output()
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => JSON.parse(l) as { protocol: number; len: number; first: number[]; source: string });
    const udp = seen.find((p) => p.protocol === 17)!;
    const tcp = seen.find((p) => p.protocol === 6)!;
    // UDP: 8 + 50 bytes, starting with the source port (not 0x6X, an IPv6 header's first byte), destination 9999.
    expect(udp.len).toBe(58);
    expect((udp.first[2]! << 8) | udp.first[3]!).toBe(9999);
    expect(udp.source).toBe('fd7d::2');
    // TCP: the SYN's header (destination port 9998 at bytes 2-3), no IPv6 header either.
    expect((tcp.first[2]! << 8) | tcp.first[3]!).toBe(9998);
    expect(udp.first[0]! >> 4).not.toBe(6);
    expect(nstat(nsA, 'Icmp6OutDestUnreachs') - unreachBefore).toBeGreaterThanOrEqual(1);
    expect(nstat(nsA, 'TcpOutRsts') - rstBefore).toBeGreaterThanOrEqual(1);
  }, 20_000);

  it('transmit: IPPROTO_RAW on AF_INET6 sends a whole packet, header included', async () => {
    expect(rawSocketPath, 'the optional raw-socket package').toBeDefined();
    const listener = lab.spawnIn(nsB, process.execPath, ['-e', LISTENER]);
    await until("B's listener", 5000, () => listener.output().includes('ready'));
    const sent = await execInAsync(nsA, process.execPath, ['-e', SENDER, rawSocketPath!], { timeoutMs: 8000 });
    expect(sent.stdout.trim()).toBe('sent 67');
    await until('the datagram at B', 5000, () => listener.output().includes('got'));
    expect(listener.output()).toContain('got "whole packet from A" fd7d::1 40000');
  }, 20_000);
});
