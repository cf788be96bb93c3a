/**
 * node:http over byway: an HTTP/1.1 server fed with byway connections, and a keep-alive client whose sockets come
 * from byway, on two stacks joined by an in-memory link. Run: node --import tsx docs/examples/http-keepalive.ts
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { createStack, memoryLink } from '../../src/index.js';

export async function main(requests = 100): Promise<{ statuses: number[]; sockets: number; bodies: string[] }> {
  const [wireA, wireB] = memoryLink();
  const client = createStack({ driver: wireA, address: '10.0.0.1/24' });
  const server = createStack({ driver: wireB, address: '10.0.0.2/24' });

  // The HTTP server is node's own; byway only supplies the connections.
  const httpServer = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`hello ${req.url} from byway\n`);
  });
  const listener = server.net.createServer((sock) => httpServer.emit('connection', sock));
  await new Promise<void>((resolve) => listener.listen(8080, '10.0.0.2', resolve));

  // One keep-alive agent whose connections are byway sockets.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<unknown>();
  (agent as unknown as { createConnection: typeof createConn }).createConnection = createConn;
  function createConn(opts: { port?: number | string; host?: string }) {
    const s = client.net.createConnection({ port: Number(opts.port), host: opts.host ?? '10.0.0.2' });
    sockets.add(s);
    return s;
  }

  const statuses: number[] = [];
  const bodies: string[] = [];
  for (let i = 0; i < requests; i++) {
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '10.0.0.2', port: 8080, path: `/${i}`, agent }, (res) => {
        statuses.push(res.statusCode ?? 0);
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    bodies.push(body);
  }
  agent.destroy();
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  httpServer.close();
  client.close();
  server.close();
  return { statuses, sockets: sockets.size, bodies };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then((r) => {
    console.log(`${r.statuses.length} requests, ${r.sockets} connection(s), last body: ${r.bodies.at(-1)?.trim()}`);
  });
}
