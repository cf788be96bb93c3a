/**
 * Router discovery and SLAAC through the API (createStack): the options checked like every other, the SHA-256 and
 * the host's secret supplied by the runtime, SLAAC addresses listed as 'dynamic', on real time over a memory link
 * whose other end plays the router.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { seededRng } from '../../protocols/util/rng.js';
import { formatIpv6, parseIpv6, withInterfaceId } from '../../protocols/ipv6/address.js';
import { stableInterfaceId } from '../../protocols/ipv6/stable-iid.js';
import { defaultStableSecret, sha256 } from '../../src/runtime/slaac-secret.js';
import { prefixInfo, raFrame, routerLla } from '../ipv6/autoconf-helpers.js';

let stacks: Stack[] = [];
afterEach(() => {
  for (const s of stacks) s.close();
  stacks = [];
});

/**
 * Yields one event-loop turn at a time (no timer: the stack's poll loop runs in those turns) until `ok`, failing
 * after `ms` of wall time.
 */
async function until(ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

const MAC = '02:00:00:00:00:31';
const FAST = { dad: { dupAddrDetectTransmits: 0 }, routerDiscovery: { maxRtrSolicitationDelayMs: 0 } };

function expected(secretHex: string): string {
  const iid = stableInterfaceId(sha256, { prefix: parseIpv6('2001:db8:5::')!, netIface: MAC, dadCounter: 0, secretKey: Buffer.from(secretHex, 'hex') })!.iid;
  return formatIpv6(withInterfaceId(parseIpv6('2001:db8:5::')!, iid));
}

async function slaac(ipv6: object): Promise<Stack> {
  const [da, db] = memoryLink();
  const s = createStack({ driver: da, mac: MAC, ipv6: { ...FAST, ...ipv6 }, rng: seededRng(5) });
  stacks.push(s);
  await s.ready();
  const frame = raFrame([routerLla(), prefixInfo('2001:db8:5::', 3600, 1800)]);
  const b = db.txReserve(frame.length)!;
  b.set(frame);
  db.txCommit(0, frame.length);
  db.flush(0);
  await until(2000, () => s.addresses.some((a) => a.startsWith('2001:db8:5:')));
  return s;
}

describe('createStack: router discovery and SLAAC', () => {
  it('forms the address from the host secret (machine id) by default, and lists it as dynamic', async () => {
    const s = await slaac({});
    expect(s.addresses).toContain(`${expected(defaultStableSecret())}/64 dynamic`);
    expect(s.stats.autoconf!.discovery.addressesFormed).toBe(1);
  });

  it('takes ipv6.stableSecret instead', async () => {
    const secret = 'aa'.repeat(16);
    const s = await slaac({ stableSecret: secret });
    expect(s.addresses).toContain(`${expected(secret)}/64 dynamic`);
  });

  it('checks the new ipv6 options like every other', () => {
    const [da] = memoryLink();
    const bad = (ipv6: object) => () => createStack({ driver: da, ipv6: ipv6 as never });
    expect(bad({ acceptRA: true })).toThrowError(/unknown option ipv6.acceptRA; did you mean ipv6.acceptRa\?/);
    expect(bad({ slaac: 'yes' })).toThrowError(/option ipv6.slaac must be true or false/);
    expect(bad({ stableSecret: 'abc' })).toThrowError(/option ipv6.stableSecret must be a string of at least 32 hex digits/);
    expect(bad({ routerDiscovery: { maxRtrSolicitation: 1 } })).toThrowError(/did you mean ipv6.routerDiscovery.maxRtrSolicitations\?/);
    expect(bad({ acceptRedirects: 1 })).toThrowError(/option ipv6.acceptRedirects must be true or false/);
  });
});
