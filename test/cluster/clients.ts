/**
 * What the cluster tests on real links share: kernel-side clients in a namespace (each answer is the serving
 * worker's "wINDEX" from fixtures/echo-worker.ts) and the collection of the workers' reports.
 */
import { expect } from 'vitest';
import type { Cluster } from '../../src/cluster/index.js';
import { execIn, execInAsync } from '../helpers/netns.js';
import { until } from '../helpers/until.js';

export { until };

async function answers(ns: string, script: string): Promise<string[]> {
  const r = await execInAsync(ns, process.execPath, ['-e', script], { timeoutMs: 20_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim()) as string[];
}

/**
 * The kernel-side echo server (a `node -e` program) on `host:port`, which outlives a reset connection. A dead
 * worker's peers get RSTs from the worker that now receives their segments; a bare `s.pipe(s)` rethrows that
 * ECONNRESET, the server process ends, and the kernel resets its other connections, the live workers' too.
 */
export const kernelEcho = (host: string, port = 9000): string =>
  `require('node:net').createServer((s)=>{s.on('error',()=>{});s.pipe(s)}).listen(${port},'${host}')`;

/** From namespace `ns`, one TCP connection to ADDRESS:PORT sending a byte: its first answer, 'timeout' or the error's code. */
export async function firstAnswer(ns: string, address: string, port: number): Promise<string> {
  const r = await execInAsync(ns, process.execPath, ['-e', `const s=require('node:net').connect(${port},'${address}',()=>s.write('x'));s.setTimeout(3000,()=>{console.log('timeout');process.exit()});s.on('data',(b)=>{console.log(b.toString());process.exit()});s.on('error',(e)=>{console.log(e.code);process.exit()})`], { timeoutMs: 10_000 });
  return r.stdout.trim();
}

/** From namespace `ns`, `n` TCP connections to ADDRESS:7000, each sends one byte and reads the answer: the answering workers. */
export const tcpClients = (ns: string, address: string, n: number): Promise<string[]> =>
  answers(ns, `const net=require('node:net');let k=0;const out=[];for(let i=0;i<${n};i++){const s=net.connect(7000,'${address}',()=>s.write('x'));s.setTimeout(5000,()=>{out.push('timeout');s.destroy()});s.on('data',(b)=>{out.push(b.toString().split(':')[0]);s.end()});s.on('error',(e)=>out.push(e.code));s.on('close',()=>{if(++k===${n}){console.log(JSON.stringify(out))}})}`);

/** From namespace `ns`, `n` datagrams to ADDRESS:7001 from as many sockets: the answering workers. */
export const udpClients = (ns: string, address: string, n: number): Promise<string[]> =>
  answers(ns, `const d=require('node:dgram');let k=0;const out=[];for(let i=0;i<${n};i++){const s=d.createSocket('${address.includes(':') ? 'udp6' : 'udp4'}');const t=setTimeout(()=>{out.push('timeout');s.close();if(++k===${n})console.log(JSON.stringify(out))},3000);s.on('message',(m)=>{clearTimeout(t);out.push(m.toString());s.close();if(++k===${n})console.log(JSON.stringify(out))});s.send('q',7001,'${address}')}`);

export const count = (xs: string[], v: string): number => xs.filter((x) => x === v).length;

/** The workers' latest reports (fixtures/echo-worker.ts), by worker index. */
export function reports(cluster: Cluster): {
  echoes: Map<number, number>;
  ports: Map<number, number>;
  late: Map<number, string>;
  ping: Map<number, string>;
  refused: Map<number, string>;
  far: Map<number, number>;
} {
  const r = { echoes: new Map<number, number>(), ports: new Map<number, number>(), late: new Map<number, string>(), ping: new Map<number, string>(), refused: new Map<number, string>(), far: new Map<number, number>() };
  cluster.on('message', (_i: number, m: { index: number; echoes?: number; localPort?: number; late?: string; ping?: string; refused?: string; far?: number }) => {
    if (m.far !== undefined) r.far.set(m.index, m.far);
    if (m.ping !== undefined) r.ping.set(m.index, m.ping);
    if (m.refused !== undefined && !r.refused.has(m.index)) r.refused.set(m.index, m.refused);
    if (m.echoes !== undefined) r.echoes.set(m.index, m.echoes);
    if (m.localPort !== undefined) r.ports.set(m.index, m.localPort);
    if (m.late !== undefined) r.late.set(m.index, m.late);
  });
  return r;
}

/** 40 TCP connections and 32 datagrams from namespace `ns` to ADDRESS:7000/7001: every one answered, by both workers. */
export async function expectBothServe(ns: string, address: string): Promise<void> {
  const tcp = await tcpClients(ns, address, 40);
  expect(count(tcp, 'w0') + count(tcp, 'w1'), JSON.stringify(tcp)).toBe(40);
  expect(count(tcp, 'w0')).toBeGreaterThan(3);
  expect(count(tcp, 'w1')).toBeGreaterThan(3);
  const udp = await udpClients(ns, address, 32);
  expect(count(udp, 'w0') + count(udp, 'w1'), JSON.stringify(udp)).toBe(32);
  expect(count(udp, 'w0')).toBeGreaterThan(2);
  expect(count(udp, 'w1')).toBeGreaterThan(2);
}

/**
 * Ask both workers (fixtures/echo-worker.ts with data.icmp) to ping the peer and send to its closed port: each gets
 * its own echo reply and port unreachable.
 */
export async function expectIcmpReachesEach(cluster: Cluster, seen: ReturnType<typeof reports>): Promise<void> {
  for (const i of cluster.live) cluster.worker(i)!.postMessage({ type: 'test-icmp' });
  await until(() => seen.ping.size === 2 && seen.refused.size === 2, 10_000);
  expect(Object.fromEntries(seen.ping)).toEqual({ 0: 'ok', 1: 'ok' });
  expect(Object.fromEntries(seen.refused)).toEqual({ 0: 'ECONNREFUSED', 1: 'ECONNREFUSED' });
}

/** Each of two workers' outgoing connections gets echoes, from a port of its own slice (fixtures/echo-worker.ts). */
export async function expectOwnConnections(seen: ReturnType<typeof reports>): Promise<void> {
    await until(() => (seen.echoes.get(0) ?? 0) > 3 && (seen.echoes.get(1) ?? 0) > 3, 10_000);
    expect(seen.echoes.get(0)).toBeGreaterThan(3);
    expect(seen.echoes.get(1)).toBeGreaterThan(3);
    expect(seen.ports.get(0)).toBeLessThan(57344);
    expect(seen.ports.get(1)).toBeGreaterThanOrEqual(57344);
}

/** AF_XDP sockets alive in namespace `ns`: /proc/net/protocols counts them per namespace (no xsk_diag for ss here). */
export const xdpSockets = (ns: string): number => Number(/^XDP\s+\d+\s+(\d+)/m.exec(execIn(ns, 'cat', ['/proc/net/protocols']))?.[1] ?? -1);
