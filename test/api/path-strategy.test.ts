import { afterEach, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { compileStrategy } from '../../src/api/path.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { once } from './harness.js';

describe('path strategy', () => {
  it('compiles decisions, functions and rule lists (first match wins)', () => {
    expect(compileStrategy(undefined)({ protocol: 'tcp', direction: 'outbound' })).toBe('bypass');
    expect(compileStrategy('kernel')({ protocol: 'udp', direction: 'inbound' })).toBe('kernel');
    const f = compileStrategy((flow) => (flow.remotePort === 443 ? 'kernel' : 'bypass'));
    expect(f({ protocol: 'tcp', direction: 'outbound', remotePort: 443 })).toBe('kernel');
    expect(f({ protocol: 'tcp', direction: 'outbound', remotePort: 80 })).toBe('bypass');
    const rules = compileStrategy({
      rules: [
        { protocol: 'udp', port: 53, path: 'kernel' },
        { cidr: '10.0.0.0/8', path: 'bypass' },
        { port: [80, 8080], direction: 'inbound', path: 'bypass' },
      ],
      default: 'kernel',
    });
    expect(rules({ protocol: 'udp', direction: 'outbound', remotePort: 53, remoteAddress: '10.1.1.1' })).toBe('kernel');
    expect(rules({ protocol: 'tcp', direction: 'outbound', remotePort: 53, remoteAddress: '10.1.1.1' })).toBe('bypass');
    expect(rules({ protocol: 'tcp', direction: 'outbound', remoteAddress: '192.0.2.1', remotePort: 80 })).toBe('kernel');
    expect(rules({ protocol: 'tcp', direction: 'inbound', localPort: 8080 })).toBe('bypass');
    expect(() => compileStrategy({ rules: [{ cidr: 'nonsense', path: 'bypass' }], default: 'kernel' })).toThrowError(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => compileStrategy((() => 'fast') as never)({ protocol: 'tcp', direction: 'outbound' })).toThrowError(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
  });

  describe('on a stack', () => {
    let stacks: Stack[] = [];
    afterEach(() => {
      for (const s of stacks) s.close();
      stacks = [];
    });

    it('routes each flow by the rules, and one server listens on both paths at once', async () => {
      const [da, db] = memoryLink();
      const strategy = { rules: [{ protocol: 'tcp' as const, cidr: '127.0.0.0/8', path: 'kernel' as const }], default: 'bypass' as const };
      const client = createStack({ driver: da, address: '10.0.0.1/24', path: strategy });
      const server = createStack({ driver: db, address: '10.0.0.2/24' });
      stacks = [client, server];
      const seen: string[] = [];
      const srv = server.net.createServer((s) => {
        seen.push(s.path);
        s.end(`hi ${s.path}`);
      });
      srv.listen({ port: 0, host: '10.0.0.2', paths: ['kernel', 'bypass'], kernelHost: '127.0.0.1' });
      await once(srv, 'listening');
      expect(srv.paths).toEqual(['kernel', 'bypass']);
      const port = srv.address()!.port;
      const read = (s: NodeJS.ReadableStream) =>
        new Promise<string>((resolve) => {
          let t = '';
          s.on('data', (d: Buffer) => (t += d));
          s.on('end', () => resolve(t));
        });
      const viaBypass = client.net.createConnection({ port, host: '10.0.0.2' });
      const viaKernel = client.net.createConnection({ port, host: '127.0.0.1' });
      expect(viaBypass.path).toBe('bypass');
      expect(viaKernel.path).toBe('kernel');
      expect(await read(viaBypass)).toBe('hi bypass');
      expect(await read(viaKernel)).toBe('hi kernel');
      expect(seen.sort()).toEqual(['bypass', 'kernel']);
      srv.close();
    });

    it('says why when bypass was chosen and cannot serve (no silent fallback)', async () => {
      const [da] = memoryLink();
      const s = createStack({ driver: da, address: '10.0.0.1/24' });
      stacks = [s];
      expect(() => s.dgram.createSocket('udp6')).toThrowError(expect.objectContaining({ code: 'ERR_BYPASS_UNSUPPORTED' }));
      const sock = s.net.createConnection({ port: 80, host: '192.0.2.9' }); // no route from the bypass path
      const [err] = await once<[NodeJS.ErrnoException]>(sock, 'error');
      expect(sock.path).toBe('bypass');
      expect(err.code).toBe('ENETUNREACH');
      expect(err.message).toBe('connect ENETUNREACH 192.0.2.9:80');
    });
  });
});

