/**
 * Puts a genuine node:net Socket (made with `new net.Socket()`, as pg does) on byway's path: the Socket stays the
 * object the program holds (so `instanceof net.Socket`, its listeners and options stay), with no kernel handle;
 * its stream methods are replaced on the instance to carry the bytes of a byway socket that does the connecting.
 *
 * Covered: connect/ready, data both ways with backpressure, end (half-close), destroy and errors, timeouts,
 * setNoDelay/setKeepAlive, ref/unref, remote/local address and port. Not covered: bytesWritten (Node reads it from
 * the handle; undefined here), and `write()` callbacks run when byway's socket took the bytes, as in Node.
 */
import type net from 'node:net';
import type { Socket as BywaySocket } from '../api/net.js';

type Mutable = Record<string, unknown>;

/**
 * What node:net's handle answers for a socket's peer or local name (`remoteFamily`, `address()` read it): the
 * address, its family as Node names it ('IPv6' for an IPv6 address, IPv4-mapped ones too, else 'IPv4') and the
 * port; nothing while the socket has no address.
 */
export function socketName(address: string | undefined, port: number | undefined): { address?: string; family?: 'IPv4' | 'IPv6'; port?: number | undefined } {
  return address === undefined ? {} : { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port };
}

/** `connected`: `bs` has connected already (the winner of attemptInTurn): the program's socket connects now. */
export function adoptOnto(ks: net.Socket, bs: BywaySocket, connected = false): void {
  const k = ks as unknown as Mutable;
  Object.defineProperty(ks, 'path', { value: 'bypass', enumerable: true, configurable: true });
  k['connecting'] = true;
  k['_write'] = (chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void) => bs.write(chunk, encoding, cb);
  // Corked writes (pg corks each query's messages) go to byway as one write, as node:net hands them to writev.
  k['_writev'] = (chunks: Array<{ chunk: Buffer | string; encoding: BufferEncoding }>, cb: (err?: Error | null) => void) =>
    bs.write(Buffer.concat(chunks.map((c) => (typeof c.chunk === 'string' ? Buffer.from(c.chunk, c.encoding) : c.chunk))), cb);
  // A write node:net held while the socket was looking its host name up goes out on 'connect' through this.
  k['_writeGeneric'] = (writev: boolean, data: unknown, encoding: BufferEncoding, cb: (err?: Error | null) => void) =>
    writev ? (k['_writev'] as (c: unknown, cb: unknown) => void)(data, cb) : bs.write(data as Buffer, encoding, cb);
  k['_final'] = (cb: (err?: Error | null) => void) => {
    bs.end();
    cb();
  };
  k['_read'] = () => void bs.resume();
  k['_destroy'] = (err: Error | null, cb: (err?: Error | null) => void) => {
    if (!bs.destroyed) bs.destroy();
    cb(err);
    // As node:net: 'close' in a later turn of the event loop than 'error' (it comes from the handle's close).
    setImmediate(() => ks.emit('close', err !== null && err !== undefined));
  };
  k['_getpeername'] = () => socketName(bs.remoteAddress, bs.remotePort);
  k['_getsockname'] = () => socketName(bs.localAddress, bs.localPort);
  k['setNoDelay'] = (v?: boolean) => {
    bs.setNoDelay(v);
    return ks;
  };
  k['setKeepAlive'] = (enable?: boolean, delay?: number) => {
    bs.setKeepAlive(enable, delay);
    return ks;
  };
  k['setTimeout'] = (ms: number, cb?: () => void) => {
    bs.setTimeout(ms);
    if (cb) ks.once('timeout', cb);
    return ks;
  };
  k['ref'] = () => {
    bs.ref();
    return ks;
  };
  k['unref'] = () => {
    bs.unref();
    return ks;
  };
  const onConnect = (): void => {
    k['connecting'] = false;
    ks.emit('connect');
    ks.emit('ready');
  };
  bs.on('data', (d: Buffer) => {
    if (!ks.push(d)) bs.pause();
  });
  bs.on('end', () => ks.push(null));
  bs.on('timeout', () => ks.emit('timeout'));
  bs.on('error', (err: Error) => ks.destroy(err));
  bs.on('close', () => {
    if (!ks.destroyed) ks.destroy();
  });
  bs.pause(); // until the program's socket asks to read
  if (connected) onConnect();
  else bs.on('connect', onConnect);
}
