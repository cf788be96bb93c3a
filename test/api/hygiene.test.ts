import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack } from '../../src/api/stack.js';
import { once } from './harness.js';

describe('resource hygiene', () => {
  it('leaves no handle, timer or socket behind after stack.close()', async () => {
    const before = process.getActiveResourcesInfo().sort();
    const [da, db] = memoryLink();
    const a = createStack({ driver: da, address: '10.0.0.1/24' });
    const b = createStack({ driver: db, address: '10.0.0.2/24' });
    const srv = b.net.createServer((s) => s.resume());
    srv.listen(7000, '10.0.0.2');
    await once(srv, 'listening');
    const c = a.net.createConnection({ port: 7000, host: '10.0.0.2' });
    c.setTimeout(60_000);
    await once(c, 'connect');
    const u = a.dgram.createSocket('udp4');
    u.bind(0);
    await once(u, 'listening');
    await a.ping('10.0.0.2');
    const during = process.getActiveResourcesInfo();
    // The ref'd sockets keep the process alive through one interval handle, like node:net sockets would.
    expect(during.filter((r) => r === 'Timeout').length).toBeGreaterThan(before.filter((r) => r === 'Timeout').length);
    a.close();
    b.close();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    // Nothing of ours is left: no kind of resource is more numerous than before (one that existed before the test,
    // e.g. another module's timer, may have ended meanwhile).
    const count = (list: string[]) => list.reduce((m, r) => m.set(r, (m.get(r) ?? 0) + 1), new Map<string, number>());
    const was = count(before);
    const left = [...count(process.getActiveResourcesInfo())].filter(([kind, n]) => n > (was.get(kind) ?? 0));
    expect(left).toEqual([]);
    expect(c.destroyed).toBe(true);
  });
});
