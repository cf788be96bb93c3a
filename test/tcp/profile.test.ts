/** The TCP option profiles: `profile: 'linux'` (Linux 6.x's defaults) and how explicit options combine with it. */
import { describe, expect, it } from 'vitest';
import { resolveTcpOptions, LINUX_PROFILE } from '../../protocols/tcp/options.js';
import { cubic } from '../../protocols/tcp/cc/index.js';
import { TcpConnection } from '../../protocols/tcp/connection.js';
import { seededRng } from '../../protocols/util/rng.js';
import { memoryLink } from '../../drivers/memory/index.js';
import { createStack } from '../../src/api/stack.js';

const rng = seededRng(7);

describe("TCP profile 'linux'", () => {
  it("takes Linux's defaults: IW10, RTO 1 s / 200 ms min with Linux's formula, 40 ms delayed ACK, wscale 7 from 6 MiB", () => {
    const o = resolveTcpOptions({ rng, profile: 'linux' }, cubic);
    expect(o.profile).toBe('linux');
    expect(o.initialWindowSegments).toBe(10);
    expect([o.initialRto, o.minRto, o.maxRto]).toEqual([1000, 200, 120_000]);
    expect(o.rtoFormula).toBe('linux');
    expect(o.delayedAckMs).toBe(40);
    expect(o.delayFinAck).toBe(true);
    expect(o.slowStartAfterIdle).toBe(true);
    expect(o.maxReceiveBuffer).toBe(6 * 1024 * 1024);
    expect(TcpConnection.wscaleFor(o)).toBe(7);
    expect(o.timestamps && o.sack && o.windowScaling).toBe(true);
  });

  it('lets explicit options override the profile (tcp_rmem max 15 MiB gives wscale 8), undefined ones do not', () => {
    const o = resolveTcpOptions({ rng, profile: 'linux', maxReceiveBuffer: 15 * 1024 * 1024, minRto: undefined }, cubic);
    expect(TcpConnection.wscaleFor(o)).toBe(8);
    expect(o.minRto).toBe(LINUX_PROFILE.minRto);
  });

  it("keeps byway's defaults without a profile (RFC 6298 formula)", () => {
    const o = resolveTcpOptions({ rng }, cubic);
    expect(o.profile).toBe('byway');
    expect(o.rtoFormula).toBe('rfc6298');
  });

  it('rejects an unknown profile or formula: EINVAL from the core, ERR_INVALID_ARG_VALUE from createStack', () => {
    expect(() => resolveTcpOptions({ rng, profile: 'bsd' as never }, cubic)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => resolveTcpOptions({ rng, rtoFormula: 'x' as never }, cubic)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    const [d] = memoryLink();
    expect(() => createStack({ driver: d, address: '10.0.0.1/24', limits: { tcp: { profile: 'bsd' as never } } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/limits\.tcp\.profile must be 'byway' or 'linux'/) }),
    );
    const s = createStack({ driver: d, address: '10.0.0.1/24', limits: { tcp: { profile: 'linux' } } });
    s.close();
  });
});
