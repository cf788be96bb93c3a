/** What the IPv6 kernel tests share: a deterministic payload, its SHA-256, and a node:dgram udp6 echo server. */
import { createHash } from 'node:crypto';

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A deterministic payload of n bytes (the kernel-side client scripts build the same one). */
export function payload(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

/** node:dgram udp6 echo server on port argv[1] in the kernel's namespace: prints 'ready' once bound. */
export const ECHO_SERVER = `
const s = require('node:dgram').createSocket('udp6');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(+process.argv[1], () => console.log('ready'));
`;
