/**
 * byway's public entry point. The node:net / node:dgram-shaped API (`createStack`) arrives with the API issue; this
 * exports the stack core, the runtime that binds it to Node's event loop, the drivers and the middlewares.
 */
export { NetStack, type StackConfig, type PingOptions, type PingResult, type RouteConfig, type IcmpOptions } from './stack/stack.js';
export { UdpSocket, type UdpOptions, type Datagram } from './stack/udp.js';
export type { NeighbourOptions } from './stack/neighbour.js';
export type { StackStats } from './stack/stats.js';
export { VirtualClock, type Clock } from './stack/clock.js';
export { runUntil, type Pollable, type RunOptions } from './stack/sim.js';
export { PollLoop, systemClock, type PollLoopOptions } from './runtime/poll-loop.js';
export { runStack, type RunningStack } from './runtime/run-stack.js';
export { memoryLink, memorySwitch } from '../drivers/memory/index.js';
export { pcap, pcapFile, readPcap, faults } from '../drivers/middleware/index.js';
export type { FrameDriver, DriverCapabilities, ChecksumCapabilities, FrameSink } from '../drivers/types.js';
export { SOFTWARE_CHECKSUMS } from '../drivers/types.js';
export { BywayError } from '../protocols/util/errors.js';
export { seededRng, cryptoRng, type Rng } from '../protocols/util/rng.js';
export { parseIpv4, formatIpv4, parseCidr } from '../protocols/ipv4/address.js';
export { parseMac, formatMac } from '../protocols/ethernet/wire.js';
