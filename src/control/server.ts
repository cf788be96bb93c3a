/**
 * The control socket of a process running byway: a Unix socket (mode 0600, in a 0700 directory of its user) that
 * answers one JSON request per connection, one line `{"cmd": ...}`:
 *   stat     -> one JSON line: the stack's counters, the driver's, the flows per path, the configuration
 *   ss       -> one JSON line: TCP connections with their info records, bypass listeners, UDP sockets
 *   capture  -> one JSON line (`{"ok":true}` or an error), then a pcap stream until `count` frames or `seconds`
 *               have passed or the client hangs up; the connection then closes
 * Errors are answered as `{"error": message}`. The server and its connections never keep the process alive.
 */
import net from 'node:net';
import { chmodSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatIpv4 } from '../../protocols/ipv4/address.js';
import type { Stack } from '../api/stack.js';
import type { CaptureTap } from './capture.js';
import { ensureRuntimeDir } from './paths.js';

export interface ControlSources {
  readonly stack: Stack;
  readonly capture: CaptureTap;
  /** Anything else `stat` reports (configuration, flows per path...). */
  info(): Record<string, unknown>;
  listeners(): Array<{ address: string; port: number }>;
}

export interface ControlServer {
  readonly path: string;
  close(): void;
}

export function statAnswer(src: ControlSources): Record<string, unknown> {
  return { pid: process.pid, time: Date.now(), ...src.info(), stack: src.stack.stats, driver: src.stack.core.driver.stats };
}

export function ssAnswer(src: ControlSources): Record<string, unknown> {
  const udp = (src.stack.core.udp.sockets() ?? []).map((s) => ({
    localAddress: formatIpv4(s.localIp),
    localPort: s.localPort,
    remoteAddress: s.remoteIp === 0 ? '*' : formatIpv4(s.remoteIp),
    remotePort: s.remotePort,
  }));
  return { pid: process.pid, tcp: src.stack.connections(), listening: src.listeners(), udp };
}

/** What a control socket answers: a stack's process (startControlServer) or `byway run --workers`'s supervisor. */
export interface ControlHandlers {
  stat(): Record<string, unknown> | Promise<Record<string, unknown>>;
  ss(): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** Start a capture on `conn` (throws what to answer when it cannot). */
  capture(conn: net.Socket, req: { count?: number; seconds?: number }): void;
}

export function startControlServer(path: string, src: ControlSources): ControlServer {
  return startControlServerWith(path, {
    stat: () => statAnswer(src),
    ss: () => ssAnswer(src),
    capture: (conn, req) => capture(conn, src.capture, req),
  });
}

export function startControlServerWith(path: string, handlers: ControlHandlers): ControlServer {
  ensureRuntimeDir(dirname(path));
  try {
    unlinkSync(path); // a socket file left by an earlier process with this PID
  } catch {
    /* none */
  }
  const server = net.createServer((conn) => {
    conn.unref();
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', () => {});
    conn.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 4096) conn.destroy();
        return;
      }
      conn.removeAllListeners('data');
      let req: { cmd?: string; count?: number; seconds?: number };
      try {
        req = JSON.parse(buf.slice(0, nl)) as typeof req;
      } catch {
        conn.end(JSON.stringify({ error: 'the request is not JSON' }) + '\n');
        return;
      }
      const fail = (err: unknown): void => void conn.end(JSON.stringify({ error: (err as Error).message }) + '\n');
      try {
        if (req.cmd === 'stat' || req.cmd === 'ss') {
          const answer = req.cmd === 'stat' ? handlers.stat() : handlers.ss();
          Promise.resolve(answer).then((a) => conn.end(JSON.stringify(a) + '\n'), fail);
        } else if (req.cmd === 'capture') handlers.capture(conn, req);
        else conn.end(JSON.stringify({ error: `unknown command '${String(req.cmd)}' (stat, ss, capture)` }) + '\n');
      } catch (err) {
        fail(err);
      }
    });
  });
  server.on('error', () => {});
  server.listen(path);
  server.unref();
  chmodSync(path, 0o600);
  const cleanup = (): void => {
    try {
      unlinkSync(path);
    } catch {
      /* gone */
    }
  };
  process.once('exit', cleanup);
  return {
    path,
    close() {
      server.close();
      cleanup();
      process.removeListener('exit', cleanup);
    },
  };
}

function capture(conn: net.Socket, tap: CaptureTap, req: { count?: number; seconds?: number }): void {
  const count = req.count === undefined ? undefined : Number(req.count);
  const seconds = req.seconds === undefined ? undefined : Number(req.seconds);
  if (count !== undefined && !(Number.isInteger(count) && count > 0)) throw new Error('count must be a positive integer');
  if (seconds !== undefined && !(seconds > 0 && seconds <= 86400)) throw new Error('seconds must be from 0 to 86400');
  if (tap.active) throw new Error('a capture is already running in this process');
  conn.write(JSON.stringify({ ok: true }) + '\n');
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ended = false;
  const finish = (): void => {
    ended = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    conn.end();
  };
  tap.start({ sink: (chunk) => conn.write(chunk), count, onEnd: finish });
  if (seconds !== undefined) {
    timer = setTimeout(() => !ended && tap.stop(), seconds * 1000);
    timer.unref();
  }
  conn.on('close', () => !ended && tap.stop());
}
