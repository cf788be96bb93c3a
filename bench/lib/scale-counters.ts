/** The counters each bench/lib/scale-worker.ts writes into its slot of scale.ts's shared buffer, in this order. */
export const WORKER_COUNTERS = ['threadCpuUs', 'turns', 'spins', 'spinHits', 'spunUs', 'windowsSkipped', 'windowHits', 'txKicks', 'rxFrames', 'txFrames'] as const;
