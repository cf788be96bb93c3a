/**
 * Shared pieces of the whole-stack TSO tests against the kernel (tap-tso-stack, af-packet-tso): a driver wrapper
 * that counts what the device hands up, and 8 MiB bulk transfers between a byway stack and socat in a namespace,
 * checked by SHA-256 on the receiving side. byway listens in both directions, so nothing waits for socat to start.
 */
import { createHash } from 'node:crypto';
import { RxFlag, type FrameDriver } from '../../drivers/types.js';
import { forwardRest } from '../../drivers/middleware/forward.js';
import type { Stack } from '../../src/index.js';
import { execInAsync, type ExecResult } from '../helpers/netns.js';

export interface Counted {
  /** Frames handed up. */
  frames: number;
  /** Frames above a 1500-byte MTU (coalesced by the kernel). */
  big: number;
  maxLen: number;
  /** Frames the device vouched for (RxFlag.L4ChecksumValid). */
  vouched: number;
}

/** Delegates to `inner` (drivers/middleware/forward.ts), counting received frames (see Counted). */
export function counting(inner: FrameDriver): FrameDriver & Counted {
  const c: Counted & { receive: FrameDriver['receive'] } = {
    frames: 0,
    big: 0,
    maxLen: 0,
    vouched: 0,
    receive: (now, max, sink) =>
      inner.receive(now, max, (frame, flags) => {
        c.frames++;
        if (frame.length > 1514) c.big++;
        if (frame.length > c.maxLen) c.maxLen = frame.length;
        if (flags !== undefined && (flags & RxFlag.L4ChecksumValid) !== 0) c.vouched++;
        sink(frame, flags);
      }),
  };
  return forwardRest(c, inner) as FrameDriver & Counted;
}

/**
 * byway serves `data` on `port` and closes; socat in `ns` connects from the kernel side and hashes what it read.
 * Returns socat's run and the SHA-256 it printed.
 */
export async function sendToKernel(stack: Stack, ns: string, bywayIp: string, port: number, data: Uint8Array): Promise<ExecResult & { sha256: string }> {
  const srv = stack.net.createServer((s) => s.end(data));
  srv.listen(port);
  try {
    const r = await execInAsync(ns, 'bash', ['-c', `set -o pipefail; socat -u TCP:${bywayIp}:${port} - | sha256sum`], { timeoutMs: 30_000 });
    return { ...r, sha256: r.stdout.split(/\s/)[0]! };
  } finally {
    srv.close();
  }
}

/** socat in `ns` sends `file` to byway on `port`; resolves with what byway received (bytes and SHA-256). */
export async function takeFromKernel(stack: Stack, ns: string, bywayIp: string, port: number, file: string): Promise<{ socat: ExecResult; bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let srv: ReturnType<Stack['net']['createServer']> | undefined;
  const done = new Promise<void>((resolve, reject) => {
    srv = stack.net.createServer((s) => {
      s.on('data', (d: Uint8Array) => {
        hash.update(d);
        bytes += d.length;
      });
      s.on('end', () => resolve());
      s.on('error', reject);
    });
    srv.listen(port);
  });
  try {
    const socat = execInAsync(ns, 'socat', ['-u', `FILE:${file}`, `TCP:${bywayIp}:${port}`], { timeoutMs: 30_000 });
    await Promise.race([done, socat.then((r) => (r.code === 0 ? done : Promise.reject(new Error(`socat failed: ${r.stderr}`))))]);
    return { socat: await socat, bytes, sha256: hash.digest('hex') };
  } finally {
    srv?.close();
  }
}
