/**
 * Opens the driver a DriverSpec names (BYWAY_DRIVER), with the profile's tuning and byway's first address. Throws
 * what the driver throws (ERR_NATIVE_UNAVAILABLE, EPERM, ENODEV...), prefixed with the spec so the start-up error
 * says which driver could not be opened.
 */
import { BywayError } from '../../protocols/util/errors.js';
import type { FrameDriver } from '../../drivers/types.js';
import { openTap } from '../../drivers/tap/index.js';
import { openAfPacket, type AfPacketOptions } from '../../drivers/af-packet/index.js';
import { openAfXdp, type AfXdpOptions } from '../../drivers/af-xdp/index.js';
import { openRawIp } from '../../drivers/raw-ip/index.js';
import type { DriverSpec, DriverTuning } from './config.js';

export function formatDriverSpec(spec: DriverSpec): string {
  return `${spec.kind}${spec.ifname !== undefined ? `:${spec.ifname}` : ''}${spec.shared ? ':shared' : ''}${spec.ipv6 ? ':ipv6' : ''}`;
}

/**
 * `fanout`: join this AF_PACKET fanout group (a worker of `byway run --workers`, member.ts); `xdp`: bind this
 * receive queue into the XSKMAP of the supervisor's XDP program (the same, on af-xdp in own-address mode);
 * `tapQueue`: attach a queue of a multi-queue TAP device with the workers' shared MAC. Each is refused for the
 * other drivers.
 */
export function openDriver(
  spec: DriverSpec,
  opts: {
    netns?: string | undefined;
    address?: string | undefined;
    tuning: DriverTuning;
    fanout?: AfPacketOptions['fanout'];
    xdp?: { readonly queue: number; readonly queues: number; readonly xskMapFd: number; readonly sharedFlows?: AfXdpOptions['sharedFlows'] } | undefined;
    tapQueue?: { readonly hwAddress: string } | undefined;
  },
): FrameDriver {
  const ip = opts.address?.split('/')[0];
  const netns = opts.netns;
  const t = opts.tuning;
  if (opts.fanout !== undefined && spec.kind !== 'af-packet') {
    throw new BywayError('ERR_INVALID_ARG_VALUE', `workers need an af-packet driver (an AF_PACKET fanout group), not ${formatDriverSpec(spec)}`);
  }
  if (opts.xdp !== undefined && (spec.kind !== 'af-xdp' || spec.shared !== (opts.xdp.sharedFlows !== undefined))) {
    throw new BywayError(
      'ERR_INVALID_ARG_VALUE',
      `an XSKMAP (BYWAY_XSKMAP) needs an af-xdp driver, in shared-address mode with a flow map (BYWAY_FLOWMAP) and in own-address mode without; not ${formatDriverSpec(spec)}${opts.xdp.sharedFlows ? ' with a flow map' : ''}`,
    );
  }
  if (opts.tapQueue !== undefined && spec.kind !== 'tap') {
    throw new BywayError('ERR_INVALID_ARG_VALUE', `a TAP queue (BYWAY_TAPQ) needs a tap driver, not ${formatDriverSpec(spec)}`);
  }
  const tapq = opts.tapQueue && { multiQueue: true, hwAddress: Uint8Array.from(opts.tapQueue.hwAddress.split(':'), (h) => parseInt(h, 16)) };
  try {
    switch (spec.kind) {
      case 'tap':
        return openTap({ name: spec.ifname!, netns, tso: t.tso, maxBatch: t.maxBatch, busyPoll: t.busyPoll, ...tapq });
      case 'af-packet':
        return openAfPacket({ ifname: spec.ifname!, netns, ipv4: ip, tso: t.tso, maxBatch: t.maxBatch, busyPoll: t.busyPoll, fanout: opts.fanout });
      case 'af-xdp':
        return openAfXdp({ ifname: spec.ifname!, netns, mode: spec.shared ? 'shared' : 'own', ipv4: spec.shared ? undefined : ip, ipv6: spec.ipv6 ? true : undefined, maxBatch: t.maxBatch, busyPoll: t.busyPoll, ...opts.xdp });
      case 'raw-ip':
        return openRawIp({ netns, localAddress: ip, protocols: ['icmp', 'udp', 'tcp'], maxBatch: t.maxBatch });
    }
  } catch (err) {
    const e = err as BywayError;
    throw new BywayError(e.code ?? 'ERR_DRIVER_OPEN', `cannot open ${formatDriverSpec(spec)}${netns ? ` in netns ${netns}` : ''}: ${e.message}`);
  }
}
