/**
 * The benchmark's servers: long-lived handles (start, optionally `mark()` a counter snapshot, `stop()`), the same
 * code on the kernel path and on byway. Re-exported by bench/lib/workloads.ts.
 */
import { GcCounter } from './gc-window.js';
import { Errors, bindUdp, closeSrv, listen, noop, now, type Conn, type Endpoint, type ServerHandle, type Srv } from './wl-common.js';

/** UDP echo: every datagram goes back to its sender. */
export async function udpEchoServer(ep: Endpoint, port: number): Promise<ServerHandle> {
  const sock = ep.createUdp();
  let echoed = 0;
  const errors = new Errors();
  sock.on('message', (msg, rinfo) => {
    sock.send(msg, rinfo.port, rinfo.address, (err) => (err ? errors.add(err) : echoed++));
  });
  await bindUdp(sock, ep, port);
  sock.on('error', (e) => errors.add(e));
  return {
    mark: () => ({ echoed, t: now() }),
    stop: async () => {
      sock.close();
      return { echoed, errors: errors.count };
    },
  };
}

/** UDP sink: counts datagrams and bytes. */
export async function udpSinkServer(ep: Endpoint, port: number): Promise<ServerHandle> {
  const sock = ep.createUdp();
  let received = 0;
  let bytes = 0;
  sock.on('message', (msg) => {
    received++;
    bytes += msg.length;
  });
  await bindUdp(sock, ep, port);
  sock.on('error', noop);
  return {
    mark: () => ({ received, bytes, t: now() }),
    stop: async () => {
      sock.close();
      return { received, bytes, t: now() };
    },
  };
}

function tcpServer(ep: Endpoint, port: number, onConn: (s: Conn) => void): Promise<{ srv: Srv; sockets: Set<Conn>; accepted: () => number }> {
  const srv = ep.createServer();
  const sockets = new Set<Conn>();
  let accepted = 0;
  srv.on('connection', (s) => {
    accepted++;
    sockets.add(s);
    s.on('error', noop);
    s.on('close', () => sockets.delete(s));
    onConn(s);
  });
  return listen(srv, ep, port).then(() => ({ srv, sockets, accepted: () => accepted }));
}

async function stopTcp(srv: Srv, sockets: Set<Conn>): Promise<void> {
  for (const s of sockets) s.destroy();
  await closeSrv(srv);
}

/** TCP echo: Nagle off, echoes every chunk, ends when the client ends. */
export async function tcpEchoServer(ep: Endpoint, port: number): Promise<ServerHandle> {
  const { srv, sockets, accepted } = await tcpServer(ep, port, (s) => {
    s.setNoDelay(true);
    s.on('data', (d: Uint8Array) => s.write(d));
    s.on('end', () => s.end());
  });
  return connCounts(srv, sockets, accepted);
}

/**
 * TCP sink: counts bytes over all connections, and this process's garbage collections (count and pause, minor =
 * scavenge; major = mark-compacts with their incremental-marking steps; and the mark-compacts alone) and page
 * faults (bench/lib/gc-window.ts): a receiver busy collecting is slow for that reason alone.
 */
export async function tcpSinkServer(ep: Endpoint, port: number): Promise<ServerHandle> {
  let bytes = 0;
  const counter = new GcCounter();
  const gc = (): Record<string, number> => {
    const g = counter.read();
    return {
      gcMinor: g.scavenges,
      gcMinorMs: g.scavengeMs,
      gcMajor: g.markCompacts + g.incremental,
      gcMajorMs: g.markCompactMs + g.incrementalMs,
      gcMarkCompacts: g.markCompacts,
      gcMarkCompactMs: g.markCompactMs,
      minorFaults: g.minorFaults,
    };
  };
  const { srv, sockets, accepted } = await tcpServer(ep, port, (s) => {
    s.on('data', (d: Uint8Array) => {
      bytes += d.length;
    });
    s.on('end', () => s.end());
  });
  return {
    mark: () => ({ bytes, accepted: accepted(), t: now(), ...gc() }),
    stop: async () => {
      const r = { bytes, accepted: accepted(), t: now(), ...gc() };
      counter.stop();
      await stopTcp(srv, sockets);
      return r;
    },
  };
}

/** The handle of a TCP server whose counters are its connections: accepted so far and open now. */
function connCounts(srv: Srv, sockets: Set<Conn>, accepted: () => number): ServerHandle {
  return {
    mark: () => ({ accepted: accepted(), open: sockets.size, t: now() }),
    stop: async () => {
      const r = { accepted: accepted(), open: sockets.size };
      await stopTcp(srv, sockets);
      return r;
    },
  };
}

/** TCP hold: accepts and keeps connections open, idle. */
export async function tcpHoldServer(ep: Endpoint, port: number): Promise<ServerHandle> {
  const { srv, sockets, accepted } = await tcpServer(ep, port, noop);
  return connCounts(srv, sockets, accepted);
}

export const servers = {
  'udp-echo': udpEchoServer,
  'udp-sink': udpSinkServer,
  'tcp-echo': tcpEchoServer,
  'tcp-sink': tcpSinkServer,
  'tcp-hold': tcpHoldServer,
} as const;
export type ServerKind = keyof typeof servers;
