/**
 * The client side of the control socket (server.ts): one request per connection. `query` returns the JSON answer;
 * `captureTo` writes the pcap stream that follows the first line to a writable stream.
 */
import net from 'node:net';
import type { Writable } from 'node:stream';
import { BywayError, systemCodeOf } from '../../protocols/util/errors.js';
import { controlPath } from './paths.js';

function open(pid: number, path?: string): net.Socket {
  const p = path ?? controlPath(pid);
  const s = net.createConnection({ path: p });
  s.on('error', () => {}); // reported through the promise below
  return s;
}

function reason(err: NodeJS.ErrnoException, pid: number, path: string): BywayError {
  if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
    return new BywayError(err.code, `no byway control socket for pid ${pid} at ${path} (is the process running under byway, with BYWAY_CONTROL not off, as this user?)`);
  }
  return new BywayError(systemCodeOf(err.code, err.errno), `control socket ${path}: ${err.message}`);
}

/** Send one request and read the single-line JSON answer. */
export function query(pid: number, req: Record<string, unknown>, path = controlPath(pid)): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = open(pid, path);
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify(req) + '\n'));
    s.on('data', (d: string) => (buf += d));
    s.on('error', (e) => reject(reason(e, pid, path)));
    s.on('end', () => {
      try {
        const answer = JSON.parse(buf) as Record<string, unknown>;
        if (typeof answer['error'] === 'string') reject(new BywayError('ERR_CONTROL', answer['error']));
        else resolve(answer);
      } catch {
        reject(new BywayError('ERR_CONTROL', `pid ${pid} answered something that is not JSON`));
      }
    });
  });
}

/** Start a capture in the process and copy the pcap stream to `out`; resolves with the bytes written. */
export function captureTo(
  pid: number,
  opts: { count?: number | undefined; seconds?: number | undefined },
  out: Writable,
  onBytes: (total: number) => void = () => {},
  path = controlPath(pid),
  onStart: () => void = () => {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = open(pid, path);
    let header = '';
    let headerDone = false;
    let bytes = 0;
    s.on('connect', () => s.write(JSON.stringify({ cmd: 'capture', count: opts.count, seconds: opts.seconds }) + '\n'));
    s.on('data', (d: Buffer) => {
      let rest = d;
      if (!headerDone) {
        const nl = d.indexOf(0x0a);
        header += d.subarray(0, nl < 0 ? d.length : nl).toString('utf8');
        if (nl < 0) return;
        headerDone = true;
        const answer = JSON.parse(header) as { ok?: boolean; error?: string };
        if (!answer.ok) {
          s.destroy();
          reject(new BywayError('ERR_CONTROL', answer.error ?? 'capture refused'));
          return;
        }
        onStart();
        rest = d.subarray(nl + 1);
      }
      if (rest.length > 0) {
        bytes += rest.length;
        out.write(rest);
        onBytes(bytes);
      }
    });
    // Ctrl-C ends the capture (the process stops capturing when we hang up); what came so far is kept.
    const onSigint = (): void => void s.end();
    process.once('SIGINT', onSigint);
    s.on('error', (e) => reject(reason(e, pid, path)));
    s.on('close', () => {
      process.removeListener('SIGINT', onSigint);
      if (headerDone) resolve(bytes);
    });
  });
}
