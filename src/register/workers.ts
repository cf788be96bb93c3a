/**
 * Worker threads under the preload: Node runs `--import` in the main thread only, so a worker thread's node:net and
 * node:dgram are not patched and its flows take the kernel path, without `socket.path` and uncounted. Rather than
 * let that pass silently, the first Worker the program starts gets one line on stderr saying so (the Worker itself
 * is unchanged: a subclass, so `instanceof Worker` holds). `uninstall()` puts the original back.
 */
import workerThreads from 'node:worker_threads';
import { syncBuiltinESMExports } from 'node:module';

export function warnOnWorkers(log: (line: string) => void): { uninstall(): void; readonly warned: boolean } {
  const Original = workerThreads.Worker;
  let warned = false;
  class Worker extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      if (!warned) {
        warned = true;
        log(`byway: worker thread ${this.threadId} started: worker threads do not run the preload; their TCP and UDP flows take the kernel path (not counted, no socket.path)`);
      }
    }
  }
  Object.defineProperty(Worker, 'name', { value: 'Worker' });
  (workerThreads as { Worker: typeof Original }).Worker = Worker;
  syncBuiltinESMExports();
  return {
    get warned() {
      return warned;
    },
    uninstall() {
      (workerThreads as { Worker: typeof Original }).Worker = Original;
      syncBuiltinESMExports();
    },
  };
}
