/** One stack per worker thread over the queues of one interface (issue #19): see cluster.ts and plan.ts. */
export { startCluster, Cluster, type ClusterOptions, type ClusterStats } from './cluster.js';
export { clusterWorker, isClusterWorker, type ClusterWorker, type ClusterDriverOptions, type ClusterStackOptions } from './worker.js';
export { Membership, workerSettings, type WorkerSettings } from './plan.js';
