/**
 * The TCP layer's own parts, alone: its local ports (ports.ts: users per port, the host's claims, RFC 6056's
 * ephemeral choice) and the limits its connections share (limits.ts). Virtual time only (numbers passed in).
 */
import { describe, expect, it } from 'vitest';
import { cubic } from '../../protocols/tcp/parts.js';
import { LayerLimits } from '../../protocols/tcp/limits.js';
import { resolveTcpOptions, type TcpOptions } from '../../protocols/tcp/options.js';
import { PortTable } from '../../protocols/tcp/ports.js';
import { seededRng } from '../../protocols/util/rng.js';

const KEY = new Uint8Array(16).fill(7);

function hostOf(refused: Set<number> = new Set()) {
  const log: string[] = [];
  return {
    log,
    host: {
      claimPort: (port: number): boolean => {
        log.push(`claim ${port}`);
        return !refused.has(port);
      },
      releasePort: (port: number): void => {
        log.push(`release ${port}`);
      },
    },
  };
}

describe('PortTable', () => {
  it('claims a port from the host at its first user and gives it back after its last', () => {
    const { host, log } = hostOf();
    const ports = new PortTable(host, KEY, 0);
    expect(ports.acquire(80)).toBe(true);
    expect(ports.acquire(80)).toBe(true);
    ports.release(80);
    expect(log).toEqual(['claim 80']);
    ports.release(80);
    ports.release(80); // no user left: nothing more to give back
    expect(log).toEqual(['claim 80', 'release 80']);
  });

  it('fails when the host holds the port (the kernel\'s TCP, shared address)', () => {
    const { host } = hostOf(new Set([443]));
    const ports = new PortTable(host, KEY, 0);
    expect(ports.acquire(443)).toBe(false);
    expect(ports.acquire(444)).toBe(true);
  });

  it('picks each free ephemeral port once, skipping those in use or refused, then throws EADDRNOTAVAIL', () => {
    const { host } = hostOf(new Set([50003]));
    const ports = new PortTable(host, KEY, 5);
    const inUse = new Set([50001]);
    const got = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const p = ports.ephemeral(50000, 50009, 1, 2, 80, (port) => inUse.has(port) || got.has(port));
      expect(p).toBeGreaterThanOrEqual(50000);
      expect(p).toBeLessThanOrEqual(50009);
      got.add(p);
    }
    expect(got.has(50001) || got.has(50003)).toBe(false);
    expect(() => ports.ephemeral(50000, 50009, 1, 2, 80, (port) => inUse.has(port) || got.has(port))).toThrow(
      expect.objectContaining({ code: 'EADDRNOTAVAIL' }),
    );
  });
});

describe('LayerLimits', () => {
  const limits = (o: Omit<TcpOptions, 'rng'>): LayerLimits => new LayerLimits(resolveTcpOptions({ rng: seededRng(1), ...o }, cubic));

  it('allows challengeAckLimit challenge ACKs per second (RFC 5961 7), counted again a second later', () => {
    const l = limits({ challengeAckLimit: 2 });
    expect([l.challengeAckAllowed(0), l.challengeAckAllowed(10), l.challengeAckAllowed(999)]).toEqual([true, true, false]);
    expect(l.challengeAckAllowed(1000)).toBe(true);
  });

  it('rate-limits RSTs with rstRateLimit, and not at all with 0', () => {
    const l = limits({ rstRateLimit: 1 });
    expect([l.rstAllowed(0), l.rstAllowed(1)]).toEqual([true, false]);
    const free = limits({ rstRateLimit: 0 });
    for (let i = 0; i < 100; i++) expect(free.rstAllowed(0)).toBe(true);
  });

  it('lets closeBurst FINs out per poll, and holds memory to its limits', () => {
    const l = limits({ closeBurst: 2, oooTotalLimit: 100, bufferMemoryLimit: 1000 });
    expect([l.finAllowed(), l.finAllowed(), l.finAllowed()]).toEqual([true, true, false]);
    l.finsSincePoll = 0; // a new poll
    expect(l.finAllowed()).toBe(true);
    l.oooAdjust(60);
    expect([l.oooAllowed(40), l.oooAllowed(41)]).toEqual([true, false]);
    l.bufferAdjust(900);
    expect([l.bufferAllowed(100), l.bufferAllowed(101)]).toEqual([true, false]);
    l.bufferAdjust(-900);
    expect(l.bufferTotal).toBe(0);
  });
});
