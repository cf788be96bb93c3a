/** Every fuzz target, by name. */
import type { FuzzTarget } from '../lib/target.js';
import { arpTarget, checksumTarget, ethernetTarget, icmpTarget, ipv4Target, tcpTarget, udpTarget } from './wire.js';
import { addressTarget, pcapTarget, reassemblyTarget } from './misc.js';
import { stackRxTarget, tcpStatesTarget } from './stack.js';
import { tcpMitmTarget } from './mitm.js';
import { icmpv6Target, ipv6AddressTarget, ipv6ReassemblyTarget, ipv6Target } from './ipv6.js';
import { ndpHostTarget } from './ipv6-ndp.js';
import { mldTarget } from './mld.js';

export const TARGETS: readonly FuzzTarget[] = [
  ethernetTarget,
  arpTarget,
  ipv4Target,
  icmpTarget,
  udpTarget,
  tcpTarget,
  checksumTarget,
  addressTarget,
  reassemblyTarget,
  pcapTarget,
  stackRxTarget,
  tcpStatesTarget,
  tcpMitmTarget,
  ipv6AddressTarget,
  ipv6Target,
  icmpv6Target,
  ipv6ReassemblyTarget,
  ndpHostTarget,
  mldTarget,
];

export function targetByName(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}

/** The target a saved file belongs to: the longest target name that prefixes the file name, then '-'. */
export function targetForFile(fileName: string): FuzzTarget | undefined {
  let best: FuzzTarget | undefined;
  for (const t of TARGETS) if (fileName.startsWith(`${t.name}-`) && (best === undefined || t.name.length > best.name.length)) best = t;
  return best;
}
