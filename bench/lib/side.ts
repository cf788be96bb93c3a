/**
 * The coordinator's handle on one side process (bench/peer.ts): spawns it, sends JSON-line requests, matches
 * replies by id, times out requests, and kills the process (by its own pid) when asked or when the coordinator
 * exits. A request rejects with an Error carrying the side's error code and message, or 'ETIMEDOUT'.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface SideError extends Error {
  code?: string;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const live = new Set<Side>();

/** Kill every side still running (for exit and signal handlers). */
export function killAllSides(): void {
  for (const s of live) s.kill();
}

export class Side {
  readonly command: string[];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;
  /** Asynchronous errors the side reported outside any request (uncaught exceptions). */
  readonly uncaught: string[] = [];
  /** The last lines it wrote to stderr (kept for error reports). */
  readonly stderrTail: string[] = [];
  readonly ready: Promise<{ pid: number; node: string }>;

  constructor(readonly name: string, argv: string[], cwd: string, private readonly echoStderr: boolean) {
    this.command = argv;
    this.child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(this);
    let readyResolve!: (v: { pid: number; node: string }) => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => undefined);
    const readyTimer = setTimeout(() => readyReject(this.err('ETIMEDOUT', `${name} did not start within 30 s`)), 30_000);
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let msg: { id: number; ok: boolean; result?: unknown; error?: { code?: string; message: string } };
      try {
        msg = JSON.parse(line);
      } catch {
        this.tail(`(stdout) ${line}`);
        return;
      }
      if (msg.id === 0) {
        clearTimeout(readyTimer);
        readyResolve(msg.result as { pid: number; node: string });
        return;
      }
      if (msg.id === -1) {
        this.uncaught.push(`${msg.error?.code ?? ''} ${msg.error?.message ?? ''}`.trim());
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(this.err(msg.error?.code, msg.error?.message ?? 'error'));
    });
    createInterface({ input: this.child.stderr }).on('line', (line) => {
      this.tail(line);
      if (this.echoStderr) process.stderr.write(`  [${name}] ${line}\n`);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      live.delete(this);
      clearTimeout(readyTimer);
      const why = this.err('ESIDEEXIT', `${name} exited (code ${code}, signal ${signal}); stderr: ${this.stderrTail.slice(-5).join(' | ')}`);
      readyReject(why);
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(why);
      }
      this.pending.clear();
    });
    this.child.on('error', (e) => {
      readyReject(e);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  private tail(line: string): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > 40) this.stderrTail.shift();
  }

  private err(code: string | undefined, message: string): SideError {
    const e = new Error(message) as SideError;
    if (code !== undefined) e.code = code;
    return e;
  }

  request<T = Record<string, unknown>>(op: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    if (this.exited) return Promise.reject(this.err('ESIDEEXIT', `${this.name} has exited; stderr: ${this.stderrTail.slice(-5).join(' | ')}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(this.err('ETIMEDOUT', `${this.name}: '${op}' got no answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.stdin.write(JSON.stringify({ id, op, args }) + '\n');
    });
  }

  /** Ask politely (stdin closes, the side closes its stack and exits), then SIGKILL after `graceMs`. */
  async close(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    this.child.stdin.end();
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    const t = setTimeout(() => this.kill(), graceMs);
    await gone;
    clearTimeout(t);
  }

  kill(): void {
    if (!this.exited && this.child.pid !== undefined) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
