/** Real protocols over the bypass path, in memory: node:http with keep-alive and pipelining, node:tls. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main as httpKeepAlive } from '../../docs/examples/http-keepalive.js';
import { main as tlsEcho } from '../../docs/examples/tls-echo.js';
import { bypassEnv, once } from './harness.js';

describe('node:http over byway', () => {
  it('serves 100 requests on one keep-alive connection (docs/examples/http-keepalive.ts)', async () => {
    const r = await httpKeepAlive(100);
    expect(r.statuses).toHaveLength(100);
    expect(r.statuses.every((s) => s === 200)).toBe(true);
    expect(r.sockets).toBe(1);
    expect(r.bodies[42]).toBe('hello /42 from byway\n');
  });

  it('answers pipelined requests in order', async () => {
    const env = bypassEnv();
    try {
      const httpServer = http.createServer((req, res) => res.end(`[${req.url}]`));
      const listener = env.server.net.createServer((s) => httpServer.emit('connection', s));
      listener.listen(80, env.serverAddress);
      await once(listener, 'listening');
      const sock = env.client.net.createConnection({ port: 80, host: env.serverAddress });
      let text = '';
      sock.on('data', (d: Buffer) => (text += d.toString()));
      // Three requests in one write: HTTP/1.1 pipelining.
      sock.write(['/a', '/b', '/c'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
      while ((text.match(/HTTP\/1\.1 200/g) ?? []).length < 3) await once(sock, 'data');
      const bodies = [...text.matchAll(/\r\n\r\n(\[\/[abc]\])/g)].map((m) => m[1]);
      expect(bodies).toEqual(['[/a]', '[/b]', '[/c]']);
      sock.end();
      listener.close();
      httpServer.close();
    } finally {
      env.close();
    }
  });
});

describe('node:tls over byway', () => {
  it('completes a TLS handshake with a self-signed certificate and echoes (docs/examples/tls-echo.ts)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=byway.test', '-addext', 'subjectAltName=DNS:byway.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1'], { stdio: 'ignore' });
      const r = await tlsEcho(readFileSync(join(dir, 'key.pem')), readFileSync(join(dir, 'cert.pem')), 'x'.repeat(100_000));
      expect(r.authorized).toBe(true);
      expect(r.protocol).toMatch(/^TLSv1\.[23]$/);
      expect(r.echoed).toBe('x'.repeat(100_000));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
