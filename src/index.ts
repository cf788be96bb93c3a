/**
 * byway's public entry point: `createStack` (with `stack.net` and `stack.dgram` shaped like node:net and
 * node:dgram, and the per-flow path strategy), the drivers and middlewares, and, for embedding and tests, the
 * sans-IO stack core, the virtual clock and the runtime that binds a core to Node's event loop.
 */
export { createStack, Stack, type StackOptions, type PingReply, type ConnectionRow } from './api/stack.js';
export { Socket, type TcpConnectOptions, type KernelSocket } from './api/net.js';
export { Server, type ListenOptions, type ServerOptions } from './api/net-server.js';
export type { NetApi } from './api/net-api.js';
export { Socket as DgramSocket, type SocketOptions as DgramSocketOptions, type DgramApi, type RemoteInfo, type KernelDgramSocket } from './api/dgram.js';
export { compileStrategy, type Path, type Flow, type PathRule, type PathRules, type PathStrategy } from './api/path.js';
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

// Native drivers (the addon loads on first use; without it they throw ERR_NATIVE_UNAVAILABLE with the reason).
export { openTap as tap, openTapQueues as tapQueues, TapDriver, type TapOptions } from '../drivers/tap/index.js';
export { openAfPacket as afPacket, AfPacketDriver, type AfPacketOptions } from '../drivers/af-packet/index.js';
export { openAfXdp as afXdp, openAfXdpQueues as afXdpQueues, openAfXdpProgram as afXdpProgram, AfXdpDriver, AfXdpProgram, type AfXdpOptions } from '../drivers/af-xdp/index.js';
export { openRawIp as rawIp, RawIpDriver, type RawIpOptions } from '../drivers/raw-ip/index.js';
export { nativeAvailability } from '../drivers/native/index.js';
export { startCluster, Cluster, clusterWorker, isClusterWorker, type ClusterOptions, type ClusterStats, type ClusterWorker } from './cluster/index.js';
