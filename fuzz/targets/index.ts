/** Every fuzz target, by name. */
import type { FuzzTarget } from '../lib/target.js';
import { arpTarget, checksumTarget, ethernetTarget, icmpTarget, ipv4Target, tcpTarget, udpTarget } from './wire.js';
import { addressTarget, pcapTarget, reassemblyTarget } from './misc.js';
import { stackRxTarget, tcpStatesTarget } from './stack.js';

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
];

export function targetByName(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}
