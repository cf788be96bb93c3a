/**
 * `byway doctor`'s advice for missing capabilities (issue #13, "The privilege advice"): narrow ways first; and its
 * progress while it checks (issue #15), on a fake clock with a slow command.
 */
import { describe, expect, it, vi } from 'vitest';
import { doctor, privilegesFix, type Exec } from '../../src/cli/doctor.js';
import { parseDriverSpec } from '../../src/register/config.js';
import { nativeAvailability } from '../../drivers/native/index.js';
import { requirePrivileged } from '../helpers/netns.js';

describe('byway doctor: privileges', () => {
  it('offers a namespace, a dedicated node copy or root, and warns against setcap on the system node', () => {
    const line = privilegesFix(['NET_RAW', 'NET_ADMIN'], 'af-packet');
    expect(line).toMatch(/^privileges: missing CAP_NET_RAW, CAP_NET_ADMIN: /);
    expect(line).toMatch(/network namespace prepared by root/);
    expect(line).toMatch(/dedicated copy of node .*\(setcap cap_net_raw,cap_net_admin\+ep \/opt\/myservice\/node\)/);
    expect(line).toMatch(/Not setcap on the system's node: every Node program would then hold them/);
    expect(line).not.toMatch(/command -v node/); // the binary on PATH is the system's
    expect(privilegesFix(['BPF'], 'af-xdp')).toMatch(/setcap cap_net_raw,cap_net_admin,cap_bpf\+ep/);
  });
});

describe('byway doctor: progress', () => {
  const link = JSON.stringify([{ ifname: 'bwtest0', mtu: 1500, operstate: 'UP', flags: ['UP'], num_rx_queues: 1, num_tx_queues: 1, linkinfo: { info_kind: 'veth' } }]);
  const addr = JSON.stringify([{ addr_info: [{ family: 'inet', local: '10.9.0.1', prefixlen: 24 }] }]);

  it('says what it checks as it goes, and each second a check lasts, without changing the result lines', async () => {
    vi.useFakeTimers();
    try {
      const lines: Array<[string, string]> = [];
      // `ip link` answers after 2.5 s (a busy netlink), `ip addr` at once.
      const exec: Exec = (_cmd, args) =>
        new Promise((resolve) => {
          const answer = { status: 0, stdout: args.includes('link') ? link : addr };
          if (args.includes('link')) setTimeout(() => resolve(answer), 2500);
          else resolve(answer);
        });
      const done = doctor(
        { driver: parseDriverSpec('af-packet:bwtest0'), address: '10.9.0.2/24' },
        { print: (l) => lines.push(['out', l]), progress: (l) => lines.push(['progress', l]), exec },
      );
      await vi.advanceTimersByTimeAsync(3000);
      const fixes = await done;
      const progress = lines.filter(([k]) => k === 'progress').map(([, l]) => l);
      expect(progress).toEqual([
        'byway doctor: checking privileges',
        'byway doctor: checking the native addon',
        'byway doctor: checking interface bwtest0',
        'byway doctor: still checking interface bwtest0 (1 s)',
        'byway doctor: still checking interface bwtest0 (2 s)',
        "byway doctor: checking the kernel's addresses on bwtest0",
      ]);
      // Each progress line comes before the result line of its check.
      const order = lines.map(([k, l]) => (k === 'out' ? l.replace(/:.*/, '') : l));
      expect(order.indexOf('byway doctor: checking interface bwtest0')).toBeLessThan(order.indexOf('ok    interface bwtest0'));
      const out = lines.filter(([k]) => k === 'out').map(([, l]) => l);
      expect(out).toContain('ok    interface bwtest0: veth, up');
      // The addon's line says what its load did to glibc's trim threshold (the default here: no variable set). Without
      // the addon built the line is a FIX instead, which CI (BYWAY_REQUIRE_PRIVILEGED=1) does not accept.
      if ((nativeAvailability().available || requirePrivileged) && process.env['BYWAY_MALLOC_TRIM_THRESHOLD'] === undefined) {
        expect(out).toContain('ok    native addon: loaded; glibc keeps up to 67108864 bytes of freed heap at its top (BYWAY_MALLOC_TRIM_THRESHOLD)');
      }
      expect(out).toContain('ok    address 10.9.0.2: not held by the kernel on bwtest0 (the kernel has 10.9.0.1: its flows stay there)');
      expect(fixes).toBe(out.filter((l) => l.startsWith('FIX')).length);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('byway doctor: AF_XDP and interface checks (ip and ethtool answers given)', () => {
  const answers = (link: object, ethtoolDriver: string): Exec => async (cmd, args) => {
    if (cmd === 'ethtool' || args.includes('ethtool')) return { status: 0, stdout: `driver: ${ethtoolDriver}\nversion: 1.0\n` };
    if (args.includes('link')) return { status: 0, stdout: JSON.stringify([link]) };
    return { status: 0, stdout: JSON.stringify([{ addr_info: [{ family: 'inet', local: '10.9.0.1', prefixlen: 24 }] }]) };
  };
  const run = async (driver: string, link: object, ethtoolDriver = 'veth'): Promise<{ out: string[]; fixes: number }> => {
    const out: string[] = [];
    const fixes = await doctor({ driver: parseDriverSpec(driver), address: '10.9.0.2/24' }, { print: (l) => out.push(l), exec: answers(link, ethtoolDriver) });
    return { out, fixes };
  };
  const base = { ifname: 'eth7', mtu: 1500, operstate: 'UP', flags: ['UP'], num_rx_queues: 1, num_tx_queues: 1, linkinfo: { info_kind: 'veth' } };

  it('an XDP program already attached is a FIX; a NIC driver without native XDP a warning; several rx queues a warning', async () => {
    const taken = await run('af-xdp:eth7', { ...base, xdp: { prog: { id: 42 } } });
    expect(taken.out).toContain("FIX   xdp: a program (id 42) is attached to eth7 already; remove it with 'ip link set dev eth7 xdp off' if it is not byway's");
    expect(taken.out).toContain('ok    xdp: driver veth has native XDP (copy mode: no zero-copy on veth)');
    const generic = await run('af-xdp:eth7', { ...base, num_rx_queues: 4 }, 'e1000');
    expect(generic.out).toContain('ok    xdp: no program attached (byway attaches its own)');
    expect(generic.out).toContain('warn  xdp: driver e1000 is not known to have native XDP; byway falls back to generic mode (slower)');
    expect(generic.out).toContain("warn  4 rx queues: byway binds queue 0 only; flows hashed to other queues miss it ('ethtool -L eth7 combined 1', or an ntuple rule to queue 0; or 'byway run --workers 4', a worker per queue)");
  });

  it('a down interface, a small MTU and a TAP name on another kind of device are FIXes, counted in the result', async () => {
    const r = await run('tap:eth7', { ...base, mtu: 500, flags: [], operstate: 'DOWN' });
    // (privileges and the addon are this machine's: without root or a built addon they add their own FIX)
    const fixLines = r.out.filter((l) => /^FIX +(interface|mtu)/.test(l));
    expect(fixLines).toEqual([
      "FIX   interface eth7: down: 'ip link set eth7 up'",
      'FIX   interface eth7: is veth, BYWAY_DRIVER says tap',
      "FIX   mtu 500: below 576; 'ip link set eth7 mtu 1500'",
    ]);
    expect(r.fixes).toBe(r.out.filter((l) => l.startsWith('FIX')).length);
  });

  it('shared mode needs an address to share: IPv4, or with :ipv6 a global IPv6 one (a link-local one is not enough)', async () => {
    const only6 = (local: string): Exec => async (cmd, args) => {
      if (cmd === 'ethtool' || args.includes('ethtool')) return { status: 0, stdout: 'driver: veth\n' };
      if (args.includes('link')) return { status: 0, stdout: JSON.stringify([base]) };
      return { status: 0, stdout: JSON.stringify([{ addr_info: [{ family: 'inet6', local, prefixlen: 64 }] }]) };
    };
    const shareLines = async (driver: string, local: string): Promise<string[]> => {
      const out: string[] = [];
      await doctor({ driver: parseDriverSpec(driver) }, { print: (l) => out.push(l), exec: only6(local) });
      return out.filter((l) => l.includes('shared mode'));
    };
    expect(await shareLines('af-xdp:eth7:shared', 'fd7e::3')).toEqual(["FIX   shared mode: eth7 has no IPv4 address in the kernel to share; add one with 'ip addr add'"]);
    expect(await shareLines('af-xdp:eth7:shared:ipv6', 'fd7e::3')).toEqual([]);
    expect(await shareLines('af-xdp:eth7:shared:ipv6', 'fe80::1')).toEqual([
      "FIX   shared mode: eth7 has no IPv4 or global IPv6 address in the kernel to share; add one with 'ip addr add'",
    ]);
  });
});
