/**
 * Kernel-side servers and clients for the conformance suite, and the deterministic payloads it moves.
 *
 * Everything byway must answer runs without blocking the event loop (byway lives on it): clients are spawned
 * with execInAsync, servers with NetLab.spawnIn (stopped by teardown). nginx runs in the foreground (`daemon
 * off`, `master_process off`: one process, so stopping it leaves no worker behind) from a config and root
 * written under os.tmpdir().
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Stack } from '../../src/index.js';
import { execInAsync, type NetLab } from '../helpers/netns.js';

/** `size` bytes from xorshift32 seeded with `seed`: the same bytes on every machine. */
export function deterministicBytes(size: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export interface Payload {
  readonly name: string;
  readonly bytes: Buffer;
  readonly sha256: string;
}

export function payload(name: string, bytes: Buffer): Payload {
  return { name, bytes, sha256: sha256(bytes) };
}

/** A web root under os.tmpdir() holding the payloads; remove() deletes it. */
export function webRoot(payloads: readonly Payload[]): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'byway-conformance-'));
  mkdirSync(join(dir, 'www'));
  for (const p of payloads) writeFileSync(join(dir, 'www', p.name), p.bytes);
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Wait until something listens on `port` (tcp or udp) in `ns`; throws after `timeoutMs`. */
export async function waitListening(ns: string, proto: 'tcp' | 'udp', port: number, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const r = await execInAsync(ns, 'ss', ['-H', proto === 'tcp' ? '-ltn' : '-lun', `sport = :${port}`], { timeoutMs: 3000 });
    if (r.code === 0 && r.stdout.trim() !== '') return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`nothing listens on ${proto} ${port} in ${ns} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** nginx in the foreground in `ns`, serving `root/www` on addr:port. Stopped by lab.stopProcesses(). */
export async function startNginx(lab: NetLab, ns: string, root: string, addr: string, port: number): Promise<void> {
  const dir = mkdtempSync(join(root, 'nginx-'));
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  default_type application/octet-stream;
  sendfile on;
  keepalive_timeout 10;
  server {
    listen ${addr}:${port};
    root ${root}/www;
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const p = lab.spawnIn(ns, 'nginx', ['-p', dir, '-e', `${dir}/error.log`, '-c', join(dir, 'nginx.conf')]);
  try {
    await waitListening(ns, 'tcp', port);
  } catch (e) {
    throw new Error(`${(e as Error).message}; nginx said: ${p.output()}`);
  }
}

export interface Transfer {
  readonly status: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly ms: number;
}

/**
 * GET over byway's TCP with node:http (a byway socket as the connection); hashes the body as it arrives. Rejects
 * if the whole exchange has not finished within `deadlineMs`.
 */
export function bywayHttpGet(stack: Stack, host: string, port: number, path: string, deadlineMs: number): Promise<Transfer> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const timer = setTimeout(() => {
      req.destroy(new Error(`GET http://${host}:${port}${path} did not finish within ${deadlineMs} ms (${bytes} bytes received)`));
    }, deadlineMs);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    const req = http.request(
      {
        host,
        port,
        path,
        // No `agent`: with `agent: false` node:http builds a fresh Agent whose createConnection (node:net) wins.
        createConnection: (() => stack.net.createConnection({ port, host })) as unknown as http.RequestOptions['createConnection'],
      },
      (res) => {
        const h = createHash('sha256');
        res.on('data', (chunk: Buffer) => {
          h.update(chunk);
          bytes += chunk.length;
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, bytes, sha256: h.digest('hex'), ms: performance.now() - t0 });
        });
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    req.end();
  });
}

/** node:http served over byway: GET /<payload name> streams that payload (1 MiB writes, with backpressure). */
export async function startBywayHttp(stack: Stack, addr: string, port: number, payloads: readonly Payload[]): Promise<{ close(): void }> {
  const byName = new Map(payloads.map((p) => [`/${p.name}`, p]));
  const server = http.createServer((req, res) => {
    const p = byName.get(req.url ?? '');
    if (!p) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': p.bytes.length });
    Readable.from(chunks(p.bytes, 1 << 20)).pipe(res);
  });
  const listener = stack.net.createServer((s) => server.emit('connection', s));
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(port, addr, () => resolve());
  });
  return {
    close() {
      listener.close();
      server.close();
    },
  };
}

function* chunks(b: Buffer, size: number): Generator<Buffer> {
  for (let off = 0; off < b.length; off += size) yield b.subarray(off, Math.min(off + size, b.length));
}

/**
 * `curl` in `ns` fetching a URL (`flags`: more curl options, e.g. '-6 -g' for an IPv6 literal); the body goes through `sha256sum` (never to disk). Returns the transfer, or
 * throws with curl's words.
 */
export async function curlGet(ns: string, url: string, timeoutMs: number, flags = ''): Promise<Transfer & { curlSpeed: number }> {
  const secs = Math.max(1, Math.floor(timeoutMs / 1000) - 1);
  const script = `set -o pipefail; curl ${flags} -sS --max-time ${secs} -w '%{stderr}@@%{http_code} %{size_download} %{speed_download}\\n' '${url}' | sha256sum`;
  const r = await execInAsync(ns, 'bash', ['-c', script], { timeoutMs });
  const m = /@@(\d+) (\d+) ([\d.]+)/.exec(r.stderr);
  if (r.code !== 0 || !m) throw new Error(`curl ${url} failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim()}`);
  return { status: Number(m[1]), bytes: Number(m[2]), curlSpeed: Number(m[3]), sha256: r.stdout.split(/\s/)[0]!, ms: r.ms };
}
