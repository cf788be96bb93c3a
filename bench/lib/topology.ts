/**
 * The benchmark network: two namespaces joined by one veth pair, made with test/helpers/netns.ts's NetLab and
 * removed by `destroy()` (also on error and on SIGINT, from run.ts).
 *
 *   namespace A (subject)                         namespace B (peer)
 *   vethA 10.77.9.1 (kernel path)  <--- veth --->  vethB 10.77.9.2 (always the kernel, node:net/node:dgram)
 *   byway 10.77.9.3 (own address, via AF_XDP or AF_PACKET on vethA)
 *   byway 10.77.9.3 behind tapA, with vethA and tapA in bridge brA (TAP path only; vethA's address removed)
 *                                                  byway 10.77.9.4 (own address, via AF_XDP or AF_PACKET on vethB;
 *                                                  --symmetric paths only, the peer then runs byway too)
 *
 * Offloads: with checksum offload and TSO/GSO on, a veth hands AF_PACKET checksum-less segments of up to 64 KiB,
 * which a stack reading raw frames cannot use. So `ethtool -K ... tx off tso off gso off gro off` on both ends,
 * for every path, kernel included (same veth, same settings: the ratios compare stacks, not offloads).
 * `gro` mode is the same with GRO on: the receiving kernel (the peer's, and the bridge in front of a TSO TAP)
 * coalesces segments. Only the kernel and TAP paths can run then: AF_PACKET would see 64 KiB frames, and AF_XDP
 * runs before GRO.
 */
import { execIn, ipIn, NetLab, run } from '../../test/helpers/netns.js';

export const SUBNET_PREFIX = 24;
export const KERNEL_A = '10.77.9.1';
export const PEER_B = '10.77.9.2';
export const BYWAY_A = '10.77.9.3';
/** byway's own MAC for the AF_PACKET path (locally administered), so the kernel on vethA drops its frames early. */
export const BYWAY_PACKET_MAC = '02:b7:00:00:09:03';
/** The peer's byway address on vethB when both ends run byway (--symmetric), and its MAC over AF_PACKET. */
export const PEER_BYWAY_B = '10.77.9.4';
export const PEER_BYWAY_PACKET_MAC = '02:b7:00:00:09:04';

export interface TopologyInfo {
  nsA: string;
  nsB: string;
  vethA: string;
  vethB: string;
  tapA: string;
  mtu: number;
  offloads: string;
  offloadsApplied: boolean;
  offloadError?: string;
}

export class Topology {
  readonly lab = new NetLab();
  readonly info: TopologyInfo;
  private bridge: string | undefined;

  constructor(opts: { offloads: 'off' | 'on' | 'gro' }) {
    try {
      const nsA = this.lab.addNetns('bwbA-');
      const nsB = this.lab.addNetns('bwbB-');
      // NetLab.addVeth turns tx checksum offload off unless asked (and TSO with it): 'on' must keep the defaults.
      const { a, b } = this.lab.addVeth(nsA, nsB, { addrA: `${KERNEL_A}/${SUBNET_PREFIX}`, addrB: `${PEER_B}/${SUBNET_PREFIX}`, txChecksumOffload: opts.offloads === 'on' });
      // A persistent TAP in A for the TAP path (the driver attaches to it by name); idle until bridged.
      const tapA = this.lab.addTap(nsA);
      const offloads = `tx off tso off gso off gro ${opts.offloads === 'gro' ? 'on' : 'off'}`;
      let offloadsApplied = false;
      let offloadError: string | undefined;
      if (opts.offloads !== 'on') {
        try {
          execIn(nsA, 'ethtool', ['-K', a, ...offloads.split(' ')]);
          execIn(nsB, 'ethtool', ['-K', b, ...offloads.split(' ')]);
          execIn(nsA, 'ethtool', ['-K', tapA, ...offloads.split(' ')]);
          offloadsApplied = true;
        } catch (e) {
          offloadError = (e as Error).message;
        }
      }
      this.info = { nsA, nsB, vethA: a, vethB: b, tapA, mtu: 1500, offloads: opts.offloads !== 'on' ? offloads : 'defaults', offloadsApplied, offloadError };
    } catch (e) {
      this.lab.destroy();
      throw e;
    }
  }

  /** TAP path: vethA and tapA into a bridge; vethA's kernel address goes (byway answers for .3 behind the TAP). */
  bridgeTap(): void {
    const { nsA, vethA, tapA } = this.info;
    const br = 'brA';
    ipIn(nsA, `addr flush dev ${vethA}`);
    ipIn(nsA, `link add ${br} type bridge forward_delay 0 stp_state 0`);
    this.bridge = br;
    ipIn(nsA, `link set ${vethA} master ${br}`);
    ipIn(nsA, `link set ${tapA} master ${br}`);
    ipIn(nsA, `link set ${br} up`);
  }

  /** Undo bridgeTap. */
  unbridgeTap(): void {
    const { nsA, vethA } = this.info;
    if (!this.bridge) return;
    try {
      ipIn(nsA, `link del ${this.bridge}`);
    } catch {
      // gone with the namespace
    }
    this.bridge = undefined;
    try {
      ipIn(nsA, `addr add ${KERNEL_A}/${SUBNET_PREFIX} dev ${vethA}`);
      ipIn(nsA, `link set ${vethA} up`);
    } catch {
      // best effort
    }
  }

  /** Forget neighbour entries in both namespaces (each path starts with ARP, in its warm-up). */
  flushNeighbours(): void {
    for (const ns of [this.info.nsA, this.info.nsB]) {
      try {
        ipIn(ns, 'neigh flush all');
      } catch {
        // nothing to flush
      }
    }
  }

  /** /proc/net/sockstat of a namespace (TCP sockets in use, TIME-WAIT...), for the record. */
  sockstat(ns: string): string {
    try {
      return execIn(ns, 'cat', ['/proc/net/sockstat']).trim();
    } catch (e) {
      return (e as Error).message;
    }
  }

  destroy(): void {
    this.lab.destroy();
  }
}

export { run };
