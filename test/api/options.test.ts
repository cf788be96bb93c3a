/** createStack options that reach the runtime: checked at creation, with a stable code. */
import { describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack } from '../../src/api/stack.js';

describe('createStack options', () => {
  it('rejects a negative or non-numeric spinMs, and runs with spinMs 0 (no spin after a burst)', async () => {
    const [da, db] = memoryLink();
    expect(() => createStack({ driver: da, address: '10.0.0.1/24', spinMs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => createStack({ driver: da, address: '10.0.0.1/24', spinMs: Number.NaN })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const a = createStack({ driver: da, address: '10.0.0.1/24', spinMs: 0 });
    const b = createStack({ driver: db, address: '10.0.0.2/24' });
    try {
      const reply = await a.ping('10.0.0.2');
      expect(reply.from).toBe('10.0.0.2');
    } finally {
      a.close();
      b.close();
    }
  });

  for (const gso of [undefined, false] as const) {
    it(`gso ${String(gso)}: a 300 kB write through the API is ${gso === false ? 'sent one segment at a time' : 'cut by the stack from 64 KiB packets'}`, async () => {
      const [da, db] = memoryLink();
      const a = createStack({ driver: da, address: '10.0.0.1/24', ...(gso === undefined ? {} : { gso }) });
      const b = createStack({ driver: db, address: '10.0.0.2/24' });
      try {
        const size = 300_000;
        const got = await new Promise<number>((resolve, reject) => {
          let n = 0;
          const server = b.net.createServer((s) => {
            s.on('data', (d: Buffer) => (n += d.length));
            s.on('end', () => {
              server.close();
              resolve(n);
            });
          });
          server.listen(80, () => {
            const c = a.net.createConnection(80, '10.0.0.2', () => c.end(Buffer.alloc(size, 7)));
            c.on('error', reject);
          });
        });
        expect(got).toBe(size);
        const st = a.stats.ipv4;
        if (gso === false) expect(st.gsoPackets).toBe(0);
        else {
          expect(st.gsoPackets).toBeGreaterThan(0);
          expect(st.gsoSegments).toBeGreaterThan(st.gsoPackets);
        }
        expect(a.stats.tcp!.segsOut).toBeGreaterThanOrEqual(Math.ceil(size / 1460));
      } finally {
        a.close();
        b.close();
      }
    });
  }

  it('rejects unknown option names at every level, naming the nearest valid one', () => {
    const [d] = memoryLink();
    const bad = (o: object, message: RegExp): void => {
      expect(() => createStack({ driver: d, address: '10.0.0.1/24', ...o } as never)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(message) }),
      );
    };
    bad({ fanot: 1 }, /unknown option fanot/);
    bad({ pollmode: 'busy' }, /unknown option pollmode; did you mean pollMode\?/);
    bad({ limits: { tcp: { sendBufer: 1 } } }, /unknown option limits\.tcp\.sendBufer; did you mean limits\.tcp\.sendBuffer\?/);
    bad({ limits: { tpc: {} } }, /did you mean limits\.tcp\?/);
    bad({ limits: { udp: { maxSocket: 3 } } }, /limits\.udp\.maxSockets/);
  });

  it('rejects values of the wrong kind or range, naming the option and the value', () => {
    const [d] = memoryLink();
    const bad = (o: object, message: RegExp): void => {
      expect(() => createStack({ driver: d, address: '10.0.0.1/24', ...o } as never)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(message) }),
      );
    };
    bad({ pollMode: 'spin' }, /option pollMode must be 'event' or 'busy', got 'spin'/);
    bad({ mtu: 70000 }, /option mtu must be an integer from 68 to 65535, got 70000/);
    bad({ mtu: 9000 }, /above the driver's MTU \(1500\)/);
    bad({ vlan: 4095 }, /option vlan/);
    bad({ ttl: 0 }, /option ttl/);
    bad({ gso: 'yes' }, /option gso must be true or false, got 'yes'/);
    bad({ address: '10.0.0.1' }, /option address must be an address with its prefix length/);
    bad({ address: ['10.0.0.1/24', '10.0.1.1'] }, /option address/);
    bad({ limits: { tcp: { noDelay: 'yes' } } }, /option limits\.tcp\.noDelay must be true or false, got 'yes'/);
    bad({ limits: { tcp: { ecn: 3 } } }, /option limits\.tcp\.ecn must be 0, 1 or 2, got 3/);
    bad({ limits: { tcp: { limitedTransmit: 1 } } }, /option limits\.tcp\.limitedTransmit must be true or false/);
    bad({ limits: { neighbour: { maxEntries: -1 } } }, /limits\.neighbour\.maxEntries must be an integer/);
    bad({ limits: 3 }, /option limits must be an object/);
    bad({ igmp: { robustness: 'two' } }, /option igmp\.robustness/);
    bad({ igmp: true }, /option igmp must be an object/);
    bad({ igmp: { robustnes: 2 } }, /unknown option igmp\.robustnes; did you mean igmp\.robustness\?/);
    bad({ turnBurstUs: -1 }, /option turnBurstUs/);
    bad({ turnBurstUs: 10_001 }, /option turnBurstUs/);
    bad({ turnBurstUs: '50' }, /option turnBurstUs/);
  });

  it('accepts every documented kind of value', () => {
    const [da] = memoryLink();
    const s = createStack({
      driver: da,
      address: ['10.0.0.1/24', '10.0.1.1/24'],
      gateway: '10.0.0.254',
      mtu: 1400,
      ttl: 32,
      pollMode: 'event',
      spinMs: 0.05,
      path: (f) => (f.remotePort === 5432 ? 'kernel' : 'bypass'),
      limits: { tcp: { noDelay: true, ecn: 1, limitedTransmit: false, sendBuffer: 1 << 16, maxSendBuffer: 1 << 20 }, udp: { maxSockets: 10 }, neighbour: { maxEntries: 8 } },
      igmp: { robustness: 3, unsolicitedReportIntervalMs: 500, olderVersionQuerierTimeoutMs: 100_000 },
    });
    s.close();
    const [db] = memoryLink();
    const quiet = createStack({ driver: db, address: '10.0.0.1/24', igmp: false });
    expect(quiet.stats.igmp).toBeDefined(); // groups are still received and counted; no report is sent
    quiet.close();
  });

  it('refuses a second stack on a driver that already serves one (EBUSY), before anything is sent', () => {
    const [da] = memoryLink();
    const first = createStack({ driver: da, address: '10.0.0.1/24' });
    try {
      const sent = da.stats.txFrames;
      expect(() => createStack({ driver: da, address: '10.0.0.3/24' })).toThrow(
        expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/already belongs to another stack/) }),
      );
      expect(da.stats.txFrames).toBe(sent);
    } finally {
      first.close();
    }
  });
});

