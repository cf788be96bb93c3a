/**
 * The kernel half of a byway `net.Socket` whose host name resolved to an address the path strategy gives to the
 * kernel. createConnection() must return a socket before the name is resolved, so the strategy can only decide
 * afterwards; the socket the user holds then carries its bytes over a node:net socket to the resolved address
 * (`socket.path` turns to 'kernel'). The leg moves bytes and events only: the outer stream keeps its own
 * half-close rules (allowHalfOpen), so the inner socket is half-open and ends its writable side when told.
 *
 * Ownership: the leg owns the node:net socket and destroys it with the outer socket; received Buffers are the
 * node:net socket's, handed to the outer stream as they are.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';

export interface LegOwner extends Duplex {
  /** Called once the kernel connection is open, with its peer. */
  legConnected(): void;
}

export class KernelLeg {
  readonly sock: net.Socket;

  constructor(
    owner: LegOwner,
    options: { host: string; port: number; localAddress?: string; localPort?: number },
  ) {
    const sock = net.connect({ ...options, allowHalfOpen: true });
    this.sock = sock;
    sock.on('connect', () => owner.legConnected());
    sock.on('data', (chunk: Buffer) => {
      if (!owner.push(chunk)) sock.pause();
    });
    sock.on('end', () => owner.push(null));
    sock.on('error', (err) => owner.destroy(err));
    sock.on('close', () => {
      if (!owner.destroyed && owner.readableEnded && owner.writableFinished) owner.destroy();
    });
  }

  /** The outer stream wants more: let the inner one flow again. */
  read(): void {
    if (this.sock.isPaused()) this.sock.resume();
  }

  write(chunk: Buffer, cb: (err?: Error | null) => void): void {
    this.sock.write(chunk, cb);
  }

  end(cb: (err?: Error | null) => void): void {
    this.sock.end(() => cb());
  }

  destroy(): void {
    this.sock.destroy();
  }
}
