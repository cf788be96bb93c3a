/** The preload says so when a program starts a worker thread, which runs unpatched (src/register/workers.ts). */
import workerThreads from 'node:worker_threads';
import * as named from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { warnOnWorkers } from '../../src/register/workers.js';

const exit = (w: named.Worker): Promise<number> => new Promise((resolve) => w.once('exit', resolve));

describe('preload: worker threads', () => {
  it('one line on stderr at the first Worker, none after; the Worker is unchanged; uninstall puts it back', async () => {
    const Original = workerThreads.Worker;
    const lines: string[] = [];
    const w = warnOnWorkers((l) => lines.push(l));
    try {
      expect(w.warned).toBe(false);
      // Through the default export and the named ESM export alike (both are what programs hold).
      const first = new workerThreads.Worker('require("node:worker_threads").parentPort.postMessage(21 * 2)', { eval: true });
      const id = first.threadId; // (-1 once it has exited)
      // Listen for 'exit' at once: when the thread ends before its message is read, Node drains the port and emits
      // 'message' and then 'exit' in one go, before a listener added after awaiting the message would be there.
      const firstExit = exit(first);
      const answer = await new Promise((resolve) => first.once('message', resolve));
      expect(answer).toBe(42);
      expect(first).toBeInstanceOf(Original);
      expect(await firstExit).toBe(0);
      const second = new named.Worker('process.exit(3)', { eval: true });
      expect(await exit(second)).toBe(3);
      expect(lines).toEqual([`byway: worker thread ${id} started: worker threads do not run the preload; their TCP and UDP flows take the kernel path (not counted, no socket.path)`]);
      expect(w.warned).toBe(true);
      expect(workerThreads.Worker.name).toBe('Worker');
    } finally {
      w.uninstall();
    }
    expect(workerThreads.Worker).toBe(Original);
    expect(named.Worker).toBe(Original);
  });
});
