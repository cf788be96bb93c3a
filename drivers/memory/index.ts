/** In-memory links for tests and simulations: a back-to-back pair and a learning switch. */
export { memoryLink, type MemoryLinkOptions, type MemoryDriver } from './link.js';
export { memorySwitch, type MemorySwitch, type MemorySwitchOptions, type MemorySwitchStats } from './switch.js';
export type { MemoryCommonOptions } from './options.js';
export { memoryQueues, type MemoryQueue } from './queues.js';
