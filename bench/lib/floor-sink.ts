/**
 * bench/lib/tcp-sink-floor.c as a child process: started in a namespace (pinned to a vCPU when asked), its "ready"
 * awaited, and its counts read on demand (a line on its stdin answers one JSON line). Used by the floor path's
 * tcp-bulk-rx-1 (bench/lib/floor-path.ts), bench/rx-bulk-veth.ts and test/native/bench-tcp-sink-floor.test.ts.
 */
import { spawn } from 'node:child_process';
import { childLines } from './child-lines.js';

export interface FloorSinkOptions {
  /** The built program (bench/lib/cprogs.ts buildCPrograms().tcpSinkFloor). */
  readonly bin: string;
  readonly ns: string;
  /** taskset -c CPU; none when undefined. */
  readonly cpu?: string | undefined;
  /** 'v2': the AF_PACKET ring on `ifname`; 'tap': the TAP device `ifname`. */
  readonly kind: 'v2' | 'tap';
  readonly ifname: string;
  readonly mac: string;
  readonly ip: string;
  readonly port: number;
  /** MiB of buffers each new byte is copied into; 0: no copy. */
  readonly copyMiB: number;
  /** Nanoseconds spun after each TCP frame. */
  readonly workNs?: number;
}

/** One answer of the floor (tcp-sink-floor.c's report()). */
export interface FloorMark {
  readonly bytes: number;
  /** Epoch ms, the floor's clock. */
  readonly t: number;
  readonly cpuMs: number;
  readonly frames: number;
  readonly acks: number;
  readonly oooSegs: number;
  readonly minorFaults: number;
  readonly workMs: number;
  /** 1 once the peer's FIN came in order. */
  readonly fin: number;
}

export interface FloorSink {
  mark(): Promise<FloorMark>;
  kill(): void;
}

/** Start the floor and wait for its ready line (rejects with its stderr when it fails or stays silent 10 s). */
export async function startFloorSink(o: FloorSinkOptions): Promise<FloorSink> {
  const argv = [...(o.cpu !== undefined ? ['taskset', '-c', o.cpu] : []), o.bin, o.kind, o.ifname, o.mac, o.ip, String(o.port), String(o.copyMiB), String(o.workNs ?? 0)];
  const child = spawn('ip', ['netns', 'exec', o.ns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const kill = (): void => {
    child.stdin.end();
    child.kill('SIGKILL');
  };
  const next = childLines(child, 'tcp-sink-floor', 10_000);
  try {
    const line = await next();
    if (line !== 'ready') throw new Error(`tcp-sink-floor: ${line}`);
  } catch (e) {
    kill();
    throw new Error(`${(e as Error).message}${err ? `: ${err.trim()}` : ''}`);
  }
  return {
    mark: async () => {
      child.stdin.write('x\n');
      return JSON.parse(await next()) as FloorMark;
    },
    kill,
  };
}
