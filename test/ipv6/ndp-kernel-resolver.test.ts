/**
 * NdpHost on a shared address (AF_XDP shared mode with ipv6): the kernel keeps NDP, so resolution asks it
 * (`resolver`) and byway sends no solicitation. The counters say which: `kernelResolves` for the requests handed to
 * the kernel, `solicitationsSent` for solicitations byway put on the wire (none here). Virtual time, no I/O.
 */
import { describe, expect, it } from 'vitest';
import { NdpHost, type NdpOutput, type PendingIpv6 } from '../../src/stack/ndp.js';
import { parseIpv6, parseIpv6Cidr } from '../../protocols/ipv6/address.js';
import { seededRng } from '../../protocols/util/rng.js';

const MAC = new Uint8Array([2, 0, 0, 0, 0, 1]);
const PEER_MAC = new Uint8Array([2, 0, 0, 0, 0, 2]);
const PEER = parseIpv6('fd7e::1')!;

function host(): { ndp: NdpHost; asked: string[]; sent: number; resolved: Uint8Array[] } {
  const t = { asked: [] as string[], sent: 0, resolved: [] as Uint8Array[] };
  const out: NdpOutput = {
    sendNdp: () => void t.sent++,
    transmitResolved: (_p: PendingIpv6, mac: Uint8Array) => void t.resolved.push(mac),
  };
  const ndp = new NdpHost(MAC, [parseIpv6Cidr('fd7e::3/64')!], out, seededRng(1), {
    linkLocal: false,
    dad: { dupAddrDetectTransmits: 0 },
    resolver: (target) => void t.asked.push(Buffer.from(target).toString('hex')),
  });
  return Object.assign(t, { ndp });
}

describe('NDP through the kernel (shared address)', () => {
  it('a resolution is asked of the kernel and counted as such, not as a solicitation byway sent', () => {
    const h = host();
    expect(h.ndp.neighbours.send(0, PEER, { frame: new Uint8Array(60) })).toBe('queued');
    expect(h.asked).toEqual([Buffer.from(PEER).toString('hex')]);
    expect(h.sent).toBe(0);
    expect(h.ndp.stats.kernelResolves).toBe(1);
    expect(h.ndp.stats.solicitationsSent).toBe(0);
    // The kernel's answer (core.ts hears it over netlink) releases the waiting packet.
    h.ndp.kernelNeighbour(3, PEER, PEER_MAC);
    expect(h.resolved).toEqual([PEER_MAC]);
    expect(h.ndp.neighbours.macFor(4, PEER)).toEqual(PEER_MAC);
  });

  it('an unanswered resolution is asked again every RetransTimer, up to MAX_MULTICAST_SOLICIT (3), all of the kernel', () => {
    const h = host();
    h.ndp.neighbours.send(0, PEER, { frame: new Uint8Array(60) });
    for (let t = 1000; t <= 3000; t += 1000) h.ndp.neighbours.poll(t);
    expect(h.asked).toHaveLength(3);
    expect(h.ndp.stats.kernelResolves).toBe(3);
    expect(h.ndp.stats.solicitationsSent).toBe(0);
    expect(h.sent).toBe(0);
    expect(h.ndp.stats.neighbour.failed).toBe(1);
  });
});
