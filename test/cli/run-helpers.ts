/** What the `byway run` tests share: waiting on a child's output or exit, and the deterministic blob they serve. */
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { execInAsync, steadyTxQueues, type NetLab } from '../helpers/netns.js';
import { until } from '../helpers/until.js';

export type Proc = ChildProcess & { output(): string };

export function waitOutput(p: Proc, re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const m = re.exec(p.output());
      if (m) done(undefined, m);
    };
    const onExit = (code: number | null): void => done(new Error(`${what} exited (${code}): ${p.output()}`));
    const timer = setTimeout(() => done(new Error(`${what}: no ${re} within ${ms} ms: ${p.output()}`)), ms);
    const done = (err: Error | undefined, m?: RegExpExecArray): void => {
      clearTimeout(timer);
      p.stdout?.off('data', check);
      p.stderr?.off('data', check);
      p.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    p.stdout?.on('data', check);
    p.stderr?.on('data', check);
    p.once('exit', onExit);
    check();
  });
}

export function exited(p: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve(p.exitCode);
    const t = setTimeout(() => resolve(null), ms);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

/**
 * Stop a tshark/dumpcap capture so that it keeps every packet it saw. libpcap on Linux reads TPACKET_V3 blocks: a
 * packet sits in a block until the block fills or the kernel retires it after dumpcap's read timeout (250 ms). A
 * SIGINT before then loses that block's packets, and dumpcap does not count them as dropped. So: wait out the
 * timeout (with margin), then stop.
 */
export async function stopCapture(p: ChildProcess, ms = 15_000): Promise<void> {
  await new Promise((res) => setTimeout(res, 1000));
  p.kill('SIGINT');
  expect(await exited(p, ms)).not.toBeNull();
}

export const blob = (size: number): Buffer => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
};
export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');


/** An nginx.conf for one unprivileged-style nginx in the foreground, everything under `web`, with `servers`. */
export function nginxConfig(web: string, servers: string, accessLog = 'off'): string {
  return `daemon off; master_process off; worker_processes 1; pid ${web}/nginx.pid; error_log ${web}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${accessLog}; client_body_temp_path ${web}/body; proxy_temp_path ${web}/proxy; fastcgi_temp_path ${web}/fastcgi;
  uwsgi_temp_path ${web}/uwsgi; scgi_temp_path ${web}/scgi; default_type application/octet-stream; sendfile on;
  ${servers}
}
`;
}

/** Wait (up to 10 s) until something listens on TCP `port` in namespace `ns` (nginx says nothing when it is up). */
export async function tcpListening(ns: string, port: number): Promise<void> {
  await until(async () => (await execInAsync(ns, 'ss', ['-Htln', `sport = :${port}`], { timeoutMs: 5000 })).stdout.includes(String(port)), 10_000, 100);
}

/** (ip.src, ip.dst, tcp/udp ports, TCP payload length, flags and raw sequence number) of each IPv4 packet in a capture, as tshark reads it. */
export async function packets(ns: string, file: string): Promise<Array<{ src: string; dst: string; sport: number; dport: number; len: number; flags: number; seq: number }>> {
  const r = await execInAsync(ns, 'tshark', ['-n', '-r', file, '-Y', 'ip', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'tcp.len', '-e', 'tcp.flags', '-e', 'tcp.seq_raw'], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`tshark -r ${file}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [src, dst, ts, td, us, ud, len, flags, seq] = l.split('\t');
      return { src: src!, dst: dst!, sport: Number(ts || us), dport: Number(td || ud), len: Number(len || 0), flags: Number(flags || 0), seq: Number(seq || 0) };
    });
}

export async function nstat(ns: string): Promise<Record<string, number>> {
  const names = ['TcpPassiveOpens', 'TcpActiveOpens', 'UdpInDatagrams', 'UdpOutDatagrams'];
  const r = await execInAsync(ns, 'nstat', ['-az', ...names], { timeoutMs: 5000 });
  const out: Record<string, number> = {};
  for (const k of names) out[k] = Number(new RegExp(`^${k}\\s+(\\d+)`, 'm').exec(r.stdout)?.[1] ?? NaN);
  return out;
}

/**
 * From namespace `ns`, `n` requests to ADDRESS (HTTP on 8080, each on its own connection, GET `path`) or datagrams
 * (UDP 8081, from as many sockets; udp6 ones to an IPv6 ADDRESS) to apps/pid-server.cjs: how many times each answer came.
 */
export async function pidAnswers(ns: string, address: string, n: number, kind: 'http' | 'udp', path = '/'): Promise<Record<string, number>> {
  const head = `const out={};let k=0;const done=(x)=>{out[x]=(out[x]||0)+1;if(++k===${n})console.log(JSON.stringify(out))};`;
  const script =
    kind === 'http'
      ? `${head}const http=require('node:http');for(let i=0;i<${n};i++){const r=http.get({host:'${address}',port:8080,path:'${path}',agent:false,timeout:10000},(res)=>{let b='';res.on('data',(d)=>b+=d);res.on('end',()=>done(b))});` +
        `r.on('timeout',()=>r.destroy(Object.assign(new Error('timeout'),{code:'TIMEOUT'})));r.on('error',(e)=>done(e.code||e.message))}`
      : `${head}const d=require('node:dgram');for(let i=0;i<${n};i++){const s=d.createSocket('${address.includes(':') ? 'udp6' : 'udp4'}');const t=setTimeout(()=>{s.close();done('timeout')},5000);` +
        `s.on('message',(m)=>{clearTimeout(t);s.close();done(m.toString())});s.send('q',8081,'${address}')}`;
  const r = await execInAsync(ns, process.execPath, ['-e', script], { timeoutMs: 30_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim()) as Record<string, number>;
}

/**
 * The `byway run --workers` tests' network: a kernel-side namespace and an app namespace joined by a two-queue veth
 * with the given IPv4 addresses, the kernel side's flows each kept on one transmit queue (as a NIC's RSS would).
 */
export function twoQueueVeth(lab: NetLab, prefix: string, kernelCidr: string, appCidr: string): { kernelNs: string; appNs: string; link: { a: string; b: string } } {
  const kernelNs = lab.addNetns(`${prefix}k-`);
  const appNs = lab.addNetns(`${prefix}a-`);
  const link = lab.addVeth(kernelNs, appNs, { addrA: kernelCidr, addrB: appCidr, queues: 2 });
  steadyTxQueues(kernelNs);
  return { kernelNs, appNs, link };
}

/**
 * Wait for `byway run --workers 2`'s start line (`on`: what follows "2 workers on ", a pattern) and for both
 * workers' apps/pid-server.cjs to listen on 8080: the supervisor's pid and the workers'.
 */
export async function workersListening(proc: Proc, on: string, what: string): Promise<{ sup: number; w0: number; w1: number }> {
  const m = await waitOutput(proc, new RegExp(`^byway run: pid (\\d+) 2 workers on ${on}: worker 0 pid (\\d+), worker 1 pid (\\d+) control `, 'm'), 60_000, what);
  const [sup, w0, w1] = [Number(m[1]), Number(m[2]), Number(m[3])];
  for (const pid of [w0, w1]) await waitOutput(proc, new RegExp(`^listening 8080 pid ${pid}$`, 'm'), 60_000, `worker pid ${pid}`);
  return { sup, w0, w1 };
}
