/**
 * The native addon loads, exposes its entry points, reports set-up failures as errno-coded errors, and the
 * loader turns those into BywayErrors with a stable code and advice.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadNative, nativeAvailability, nativeError } from '../../drivers/native/index.js';
import { BywayError } from '../../drivers/types.js';
import { requirePrivileged } from '../helpers/netns.js';

const avail = nativeAvailability();

describe('native addon loader', () => {
  it.skipIf(avail.available || requirePrivileged)('without a build, asking for the addon throws ERR_NATIVE_UNAVAILABLE', () => {
    expect(() => loadNative()).toThrow(BywayError);
    try {
      loadNative();
    } catch (e) {
      expect((e as BywayError).code).toBe('ERR_NATIVE_UNAVAILABLE');
      expect((e as BywayError).message).toMatch(/native addon/);
    }
  });

  it.skipIf(!avail.available && !requirePrivileged)('loads the built addon with every entry point', () => {
    const n = loadNative();
    for (const f of ['open', 'rxBatch', 'rxRelease', 'rxPending', 'txAlloc', 'txSubmit', 'setReady', 'close', 'sockError', 'linkState', 'withNetns', 'xdpFlow', 'xdpFlowEntry', 'xdpFlowList', 'xdpAddress6', 'xdpStats', 'openCount', 'ifInfo', 'nlOpen', 'nlSend', 'nlRecv', 'portReserve', 'portRelease', 'fdAdopt', 'xdpUnbound', 'turnOpen', 'turnArm', 'turnDisarm', 'turnClose']) {
      expect(typeof (n as unknown as Record<string, unknown>)[f], f).toBe('function');
    }
  });

  it.skipIf(!avail.available && !requirePrivileged)('reports an unknown driver kind as an errno-coded error', () => {
    const n = loadNative();
    let err: (Error & { code?: string; step?: string }) | undefined;
    try {
      n.open('nope' as 'tap', { netns: '' } as never);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect(err?.code).toBe('EINVAL');
    expect(err?.step).toBe('open');
  });

  it.skipIf(!avail.available && !requirePrivileged)('takes options only complete, as the TypeScript side fills them: no default in C', () => {
    // Checked before any syscall, so this needs no privileges. The drivers build complete records (NativeTapConfig...).
    const n = loadNative();
    const fail = (kind: 'tap' | 'packet' | 'xdp', config: Record<string, unknown>): (Error & { code?: string; step?: string }) | undefined => {
      try {
        n.open(kind as 'tap', config as never);
      } catch (e) {
        return e as Error & { code?: string; step?: string };
      }
      return undefined;
    };
    expect(fail('tap', {})).toMatchObject({ code: 'EINVAL', step: 'open options', message: expect.stringContaining("'netns'") });
    expect(fail('tap', { netns: '' })).toMatchObject({ code: 'EINVAL', step: 'tap options', message: expect.stringContaining("'name'") });
    expect(fail('tap', { netns: '', name: 'bw%d', mtu: '1500' })).toMatchObject({ step: 'tap options', message: expect.stringContaining("'mtu'") });
    expect(fail('packet', { netns: '', ifname: 'x'.repeat(16) })).toMatchObject({ step: 'af-packet options', message: expect.stringContaining("'ifname'") });
    expect(fail('xdp', { netns: '', ifname: 'lo' })).toMatchObject({ step: 'af-xdp options', message: expect.stringContaining("'bindMode'") });
  });

  it.skipIf(!avail.available && !requirePrivileged)("fdAdopt copies a process's descriptor into this one (pidfd_getfd), or gives the errno", () => {
    const n = loadNative();
    const fd = openSync(process.execPath, 'r');
    try {
      const copy = n.fdAdopt(process.pid, fd);
      expect(copy).toBeGreaterThanOrEqual(0);
      expect(copy).not.toBe(fd);
      expect(fstatSync(copy).ino).toBe(fstatSync(fd).ino); // the same open file, another descriptor
      closeSync(copy);
    } finally {
      closeSync(fd);
    }
    expect(n.fdAdopt(process.pid, 999_999)).toBe(-9); // EBADF: no such descriptor
    expect(n.fdAdopt(0x3fffffff, 0)).toBe(-3); // ESRCH: no such process
    expect(() => n.fdAdopt(-1, 0)).toThrow(TypeError);
  });

  it.skipIf(!avail.available && !requirePrivileged)('withNetns with a missing namespace throws ENOENT and leaves the thread where it was', () => {
    const n = loadNative();
    expect(() => n.withNetns('byway-no-such-ns-x', () => 1)).toThrow(/open netns/);
    expect(n.withNetns('', () => 42)).toBe(42);
  });
});

describe('nativeError: stable codes and advice', () => {
  const mk = (code: string, step: string): Error => Object.assign(new Error(`${step}: ${code}`), { code, step });
  it.each([
    ['EPERM', 'TUNSETIFF', 'tap', 'EPERM', /CAP_NET_ADMIN/],
    ['EPERM', 'socket(AF_PACKET)', 'packet', 'EPERM', /CAP_NET_RAW/],
    ['EPERM', 'BPF_PROG_LOAD', 'xdp', 'EPERM', /CAP_BPF/],
    ['ENODEV', 'if_nametoindex', 'packet', 'ENODEV', /no such interface/],
    ['ENOENT', 'open /dev/net/tun', 'tap', 'ERR_TUN_UNAVAILABLE', /modprobe tun/],
    ['EAFNOSUPPORT', 'socket(AF_XDP)', 'xdp', 'ERR_XDP_UNSUPPORTED', /AF_PACKET/],
    ['EOPNOTSUPP', 'bind(AF_XDP)', 'xdp', 'ERR_XDP_UNSUPPORTED', /bindMode 'copy'/],
    ['EBUSY', 'bind(AF_XDP)', 'xdp', 'EBUSY', /retry/],
    ['EBUSY', 'BPF_LINK_CREATE', 'xdp', 'EBUSY', /xdp off/],
    ['ENOMEM', 'PACKET_RX_RING', 'packet', 'ERR_RING_SETUP', /smaller ring/],
    ['EBUSY', 'TUNSETIFF', 'tap', 'EBUSY', /busy/],
  ] as const)('%s at %s (%s) -> %s', (code, step, kind, want, advice) => {
    const b = nativeError(mk(code, step), kind, 'eth9', 'nsx');
    expect(b).toBeInstanceOf(BywayError);
    expect(b.code).toBe(want);
    expect(b.message).toMatch(advice);
  });
  it('names a missing namespace', () => {
    const b = nativeError(mk('ENOENT', 'open netns'), 'tap', 'x', 'ghost');
    expect(b.code).toBe('ENOENT');
    expect(b.message).toMatch(/ip netns add ghost/);
  });
});
