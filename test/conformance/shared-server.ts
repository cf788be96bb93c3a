/**
 * The application side of the shared-address conformance test (shared-address.test.ts), started by that test
 * inside byway's namespace with `ip netns exec`, so that its kernel-path sockets and its bypass sockets share one
 * interface and one address, as an application deployed with AF_XDP shared mode would.
 *
 *   node --import tsx test/conformance/shared-server.ts <ifname> <bypassPort> <kernelPort> <bodyBytes> <peer> <peerPort>
 *
 * One path strategy decides: TCP on <bypassPort>, and outbound TCP to <peer>:<peerPort>, go through byway; all
 * else through the kernel. It serves the same node:http handler on both ports (the response says which path its
 * socket took), and before announcing itself it pings the peer and fetches http://<peer>:<peerPort>/small through
 * byway, and checks that byway cannot take a port the kernel holds. It prints one JSON line (`ready`), serves
 * until SIGTERM, then closes the stack (which detaches XDP and releases every reservation) and prints `closed`.
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { afXdp, createStack, type Stack } from '../../src/index.js';
import type { AfXdpDriver } from '../../drivers/af-xdp/index.js';
import { deterministicBytes } from './tools.js';

const [ifname, bypassArg, kernelArg, sizeArg, peer, peerPortArg] = process.argv.slice(2);
const bypassPort = Number(bypassArg);
const kernelPort = Number(kernelArg);
const peerPort = Number(peerPortArg);
const body = deterministicBytes(Number(sizeArg), 25);

function out(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function fetchVia(stack: Stack, host: string, port: number, path: string): Promise<{ status: number; bytes: number; sha256: string; path: string }> {
  return new Promise((resolve, reject) => {
    let socketPath = '';
    const req = http.request(
      {
        host,
        port,
        path,
        createConnection: (() => {
          const s = stack.net.createConnection({ port, host });
          socketPath = s.path;
          return s;
        }) as unknown as http.RequestOptions['createConnection'],
      },
      (res) => {
        const h = createHash('sha256');
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          h.update(c);
          bytes += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, sha256: h.digest('hex'), path: socketPath }));
        res.on('error', reject);
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error('fetch timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const driver = afXdp({ ifname: ifname!, mode: 'shared', bindMode: 'copy', attachMode: 'native' }) as AfXdpDriver;
  const stack = createStack({
    driver,
    path: {
      rules: [
        { protocol: 'tcp', direction: 'inbound', port: bypassPort, path: 'bypass' },
        { protocol: 'tcp', direction: 'outbound', port: peerPort, cidr: `${peer}/32`, path: 'bypass' },
      ],
      default: 'kernel',
    },
  });
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = (req.socket as { path?: string }).path ?? 'none';
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-path': path });
    res.end(body);
  };
  const servers: Array<{ close(): void }> = [];
  const listenOn = (port: number): Promise<string[]> => {
    const app = http.createServer(handler);
    const srv = stack.net.createServer((s) => app.emit('connection', s));
    servers.push(srv, app);
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, () => resolve([...srv.paths]));
    });
  };
  const bypassPaths = await listenOn(bypassPort);
  const kernelPaths = await listenOn(kernelPort);

  // byway may not take a port the kernel holds (the kernel listener above): EADDRINUSE, said plainly.
  const conflict = await new Promise<string>((resolve) => {
    const s = stack.net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
    s.listen({ port: kernelPort, path: 'bypass' }, () => {
      s.close();
      resolve('listened');
    });
  });
  const ping = await stack.ping(peer!, { timeoutMs: 3000 }).then(
    (r) => ({ ok: true, rttMs: r.rttMs }),
    (e: NodeJS.ErrnoException) => ({ ok: false, code: e.code }),
  );
  const fetched = await fetchVia(stack, peer!, peerPort, '/small');
  out({
    ready: true,
    addresses: stack.addresses,
    mode: driver.mode,
    bypassPaths,
    kernelPaths,
    conflict,
    ping,
    fetched,
    neighbours: stack.stats.arp.neighbour,
  });

  process.once('SIGTERM', () => {
    const xdp = driver.xdpStats() ?? null;
    for (const s of servers) s.close();
    stack.close();
    out({ closed: true, xdp, arpHostOwned: stack.stats.arp.hostOwned, passiveOpens: stack.stats.tcp?.passiveOpens, activeOpens: stack.stats.tcp?.activeOpens });
    process.exit(0);
  });
}

main().catch((e: unknown) => {
  out({ ready: false, error: String((e as Error)?.stack ?? e) });
  process.exit(1);
});
