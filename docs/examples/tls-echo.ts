/**
 * node:tls over byway: a TLS server and client whose transport is a byway TCP connection, in memory. The key and
 * certificate are passed in (the test makes a self-signed pair with openssl). Run:
 *   openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=byway.test -keyout key.pem -out cert.pem -days 1
 *   node --import tsx docs/examples/tls-echo.ts key.pem cert.pem
 */
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createStack, memoryLink } from '../../src/index.js';

export async function main(key: string | Buffer, cert: string | Buffer, message = 'hello over TLS on byway'): Promise<{ echoed: string; protocol: string | null; authorized: boolean }> {
  const [wireA, wireB] = memoryLink();
  const client = createStack({ driver: wireA, address: '10.0.0.1/24' });
  const server = createStack({ driver: wireB, address: '10.0.0.2/24' });

  const tlsServer = tls.createServer({ key, cert }, (s) => s.pipe(s)); // echo
  const listener = server.net.createServer((sock) => tlsServer.emit('connection', sock));
  await new Promise<void>((resolve) => listener.listen(8443, '10.0.0.2', resolve));

  const raw = client.net.createConnection({ port: 8443, host: '10.0.0.2' });
  const secure = tls.connect({ socket: raw as unknown as import('node:net').Socket, ca: cert, servername: 'byway.test' });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  const echoed = await new Promise<string>((resolve) => {
    let text = '';
    secure.setEncoding('utf8');
    secure.on('data', (d) => {
      text += d;
      if (text.length >= message.length) resolve(text);
    });
    secure.write(message);
  });
  const result = { echoed, protocol: secure.getProtocol(), authorized: secure.authorized };
  secure.end();
  await new Promise<void>((resolve) => listener.close(() => resolve()));
  tlsServer.close();
  client.close();
  server.close();
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [keyPath, certPath] = process.argv.slice(2);
  if (!keyPath || !certPath) {
    console.error('usage: tls-echo.ts KEY.pem CERT.pem');
    process.exit(2);
  }
  main(readFileSync(keyPath), readFileSync(certPath)).then((r) => console.log(r));
}
