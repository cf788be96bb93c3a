/**
 * The lines a bench's child process prints on stdout, taken one at a time: `next()` resolves with the next line
 * (one already printed, or the next to come), or rejects after `timeoutMs`. Lines `keep` refuses (a --trace
 * flag's output mixed into the child's stdout) go to this process's stderr instead. Used by the servers of
 * bench/scale.ts and bench/conn-echo.ts, which answer a "count" on stdin with one line.
 */
import type { ChildProcess } from 'node:child_process';

export function childLines(child: ChildProcess, what: string, timeoutMs: number, keep: (line: string) => boolean = () => true): () => Promise<string> {
  let buf = '';
  const lines: string[] = [];
  const waiters: Array<(line: string) => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!keep(line)) process.stderr.write(`${line}\n`);
      else if (waiters.length > 0) waiters.shift()!(line);
      else lines.push(line);
    }
  });
  return () =>
    new Promise((resolve, reject) => {
      if (lines.length > 0) return resolve(lines.shift()!);
      const t = setTimeout(() => reject(new Error(`${what} did not answer in ${timeoutMs / 1000} s`)), timeoutMs);
      waiters.push((l) => {
        clearTimeout(t);
        resolve(l);
      });
    });
}
