/**
 * `byway doctor`'s advice for missing capabilities (issue #13, "The privilege advice"): narrow ways first; and its
 * progress while it checks (issue #15), on a fake clock with a slow command.
 */
import { describe, expect, it, vi } from 'vitest';
import { doctor, privilegesFix, type Exec } from '../../src/cli/doctor.js';
import { parseDriverSpec } from '../../src/register/config.js';

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
      expect(out).toContain('ok    address 10.9.0.2: not held by the kernel on bwtest0 (the kernel has 10.9.0.1: its flows stay there)');
      expect(fixes).toBe(out.filter((l) => l.startsWith('FIX')).length);
    } finally {
      vi.useRealTimers();
    }
  });
});
