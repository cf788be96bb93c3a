/**
 * Without the capabilities, every native driver fails fast with EPERM and names the capability it needs.
 * Run as root with the capabilities dropped from the bounding set (setpriv, util-linux).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describePrivileged } from '../helpers/netns.js';

const child = fileURLToPath(new URL('./child-eperm.ts', import.meta.url));

describePrivileged('native drivers without privileges', () => {
  it('report EPERM with the capability to grant', () => {
    const r = spawnSync(
      'setpriv',
      ['--bounding-set', '-net_admin,-net_raw,-sys_admin,-bpf', process.execPath, '--import', 'tsx', child],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; code: string; message: string });
    const by = Object.fromEntries(lines.map((l) => [l.name, l]));
    expect(by['tap']).toMatchObject({ code: 'EPERM' });
    expect(by['tap']!.message).toMatch(/CAP_NET_ADMIN/);
    expect(by['packet']).toMatchObject({ code: 'EPERM' });
    expect(by['packet']!.message).toMatch(/CAP_NET_RAW/);
    expect(by['xdp']).toMatchObject({ code: 'EPERM' });
    expect(by['xdp']!.message).toMatch(/CAP_BPF/);
  });
});
