/**
 * What the benchmark workloads share (bench/lib/workloads.ts, bench/lib/wl-servers.ts): the small Endpoint interface
 * that both the kernel path (node:net / node:dgram) and byway (stack.net / stack.dgram) satisfy, and the helpers
 * every workload uses (time, CPU time, error counts, listen/bind/close that never throw for network trouble).
 */
import type { Duplex } from 'node:stream';

export interface Conn extends Duplex {
  setNoDelay(noDelay?: boolean): unknown;
}

export interface Srv {
  listen(port: number, host: string, cb: () => void): unknown;
  close(cb?: (err?: Error) => void): unknown;
  on(ev: 'connection', fn: (s: Conn) => void): unknown;
  on(ev: 'error', fn: (e: Error) => void): unknown;
}

export interface RemoteInfoLike {
  readonly address: string;
  readonly port: number;
}

export interface Udp {
  bind(port: number, address: string, cb: () => void): unknown;
  send(msg: Uint8Array, port: number, address: string, cb: (err: Error | null) => void): void;
  on(ev: 'message', fn: (msg: Uint8Array, rinfo: RemoteInfoLike) => void): unknown;
  on(ev: 'error', fn: (e: Error) => void): unknown;
  close(cb?: () => void): unknown;
}

/** One side's sockets: kernel or byway. `address` is this side's IPv4 address. */
export interface Endpoint {
  readonly address: string;
  connect(host: string, port: number): Conn;
  createServer(): Srv;
  createUdp(): Udp;
}

export interface ServerHandle {
  /** A snapshot of the counters now (receivers: what arrived so far, with the time). */
  mark(): Record<string, number>;
  /** Stop and return the final counters. */
  stop(): Promise<Record<string, number>>;
}

export const now = (): number => performance.now();
export const noop = (): void => {};

export function cpuMs(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return Math.round((d.user + d.system) / 100) / 10;
}

export function errCode(e: unknown): string {
  const x = e as { code?: string; message?: string };
  return x?.code ?? x?.message ?? String(e);
}

/** Counts errors by code, keeping the first few distinct ones. */
export class Errors {
  count = 0;
  readonly codes: Record<string, number> = {};
  add(e: unknown): void {
    this.count++;
    const c = errCode(e).slice(0, 80);
    if (this.codes[c] !== undefined || Object.keys(this.codes).length < 8) this.codes[c] = (this.codes[c] ?? 0) + 1;
  }
}

export async function listen(srv: Srv, ep: Endpoint, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    srv.on('error', reject);
    srv.listen(port, ep.address, () => resolve());
  });
}

export async function bindUdp(sock: Udp, ep: Endpoint, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    sock.on('error', reject);
    sock.bind(port, ep.address, () => resolve());
  });
}

export function closeSrv(srv: Srv): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, 2000);
    srv.close(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

