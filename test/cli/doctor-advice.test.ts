/** `byway doctor`'s advice for missing capabilities (issue #13, "The privilege advice"): narrow ways first. */
import { describe, expect, it } from 'vitest';
import { privilegesFix } from '../../src/cli/doctor.js';

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
