/**
 * The TCP module's public surface for the stack: the layer (driven through TcpHost), listeners, connections,
 * options, counters and per-connection info, and the wire codec.
 */
export { TcpLayer, TcpListener, type TcpHost, type ConnectOpts } from './layer.js';
export { TcpConnection, type TcpState } from './connection.js';
export type { TcpOptions } from './options.js';
export { newTcpStats, type TcpInfo, type TcpStats } from './info.js';
export * from './wire.js';
