/**
 * A cluster worker's stack for the virtual-clock cluster tests (strays-sim, cookies-sim, v6-sim): the shared
 * address (10.0.0.2/24 unless `ipv4` is false, and fd00::2/64), the worker's own settings (plan.ts workerSettings:
 * its ephemeral slice, echo identifier and ARP role), a seed of its own, and any further TCP options.
 */
import type { FrameDriver } from '../../drivers/types.js';
import type { WorkerSettings } from '../../src/cluster/plan.js';
import { seededRng } from '../../protocols/util/rng.js';
import { NetStack } from '../../src/stack/stack.js';
import { cidr } from '../stack/harness.js';
import { v6cidr } from '../ipv6/stack-helpers.js';

export function workerStack(driver: FrameDriver, w: number, s: WorkerSettings, opts: { ipv4?: boolean; tcp?: object } = {}): NetStack {
  return new NetStack({
    driver,
    addresses: opts.ipv4 === false ? [] : [cidr('10.0.0.2/24')],
    addresses6: [v6cidr('fd00::2/64')],
    ipv6: true,
    rng: seededRng(10 + w),
    answerArp: s.answerArp,
    udp: s.limits.udp,
    tcp: { ...s.limits.tcp, ...opts.tcp },
    icmp: s.limits.icmp,
  });
}
