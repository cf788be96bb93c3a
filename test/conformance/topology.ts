/**
 * The conformance suite's topology builder: for one driver kind, a fresh kernel-side namespace, the device byway
 * runs on, and byway's driver, all made by the test and all removed by `teardown()`, which also reports anything
 * left behind (a namespace, an interface, an XDP program, a native handle, a socket or device fd).
 *
 *   tap        kernel ns [tap: 10.77.21.1] <- TAP fd -> byway 10.77.21.2 (byway is a host behind the TAP device)
 *   af-packet  kernel ns [veth: 10.77.22.1] <-> [veth, no IP] byway ns, AF_PACKET socket: byway 10.77.22.2
 *   af-xdp     kernel ns [veth: 10.77.23.1] <-> [veth, no IP] byway ns, AF_XDP socket (own-address mode, copy
 *              bind, native attach): byway 10.77.23.2
 *   raw-ip     kernel ns [veth: 10.77.24.1] <-> [veth: 10.77.24.2] byway ns; byway shares 10.77.24.2 with the
 *              kernel of its namespace through raw sockets (L3, no Ethernet). That kernel is told to stay quiet so
 *              what the other side sees comes from byway: it ignores echo requests (sysctl) and an nftables rule
 *              drops the TCP RSTs and ICMP destination-unreachables it would send for byway's flows.
 *
 * Only addresses inside 10.77.0.0/16, inside namespaces the test made. On a veth pair the kernel's end has its
 * offloads (TSO/GSO, checksum) switched off so it sends what a real wire carries: MTU-sized frames with complete
 * checksums. (A veth peer otherwise hands over 64 KB GSO frames with partial checksums, which no NIC emits.)
 * `vethOffloads: true` leaves them as veth sets them (the suite checks the drivers cope with that too).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import type { FrameDriver } from '../../drivers/types.js';
import { loadNative } from '../../drivers/native/index.js';
import { NetLab, execIn, ipIn, run, uniqueName } from '../helpers/netns.js';

export type DriverKind = 'tap' | 'af-packet' | 'af-xdp' | 'raw-ip';

export interface Topology {
  readonly kind: DriverKind;
  readonly lab: NetLab;
  /** The namespace the kernel-side tools (ping, socat, nginx, curl) run in. */
  readonly kernelNs: string;
  /** The kernel's interface in kernelNs (the TAP device, or its veth end). */
  readonly kernelIf: string;
  /** byway's namespace (the driver's `netns`), when byway has one. */
  readonly bywayNs: string | undefined;
  /** The interface byway's driver is bound to. */
  readonly bywayIf: string;
  readonly kernelAddr: string;
  readonly bywayAddr: string;
  readonly prefixLen: number;
  readonly medium: 'ethernet' | 'ip';
  /** The driver as opened (the stack may see it through middleware). */
  readonly driver: FrameDriver;
  /** byway's MAC (ethernet drivers). */
  readonly bywayMac: Uint8Array | undefined;
}

const SUBNET: Record<DriverKind, number> = { tap: 21, 'af-packet': 22, 'af-xdp': 23, 'raw-ip': 24 };

/** The kernel tools the suite runs; a missing one is named (never silently skipped). */
export function missingTools(kind: DriverKind): string[] {
  const tools: Array<[string, string[]]> = [
    ['ping', ['-V']],
    ['socat', ['-V']],
    ['curl', ['--version']],
    ['nginx', ['-v']],
    ['ethtool', ['--version']],
    ['ss', ['-V']],
    ['nstat', ['-V']],
  ];
  // The raw IP topology silences the kernel that shares byway's address with an nftables rule.
  if (kind === 'raw-ip') tools.push(['nft', ['--version']]);
  return tools.filter(([cmd, args]) => spawnSync(cmd, args, { stdio: 'ignore', timeout: 5000 }).status !== 0).map(([c]) => c);
}

/** Switch off a veth end's offloads so it emits MTU-sized frames with complete checksums. */
function wireLike(ns: string, ifname: string): void {
  execIn(ns, 'ethtool', ['-K', ifname, 'tso', 'off', 'gso', 'off', 'gro', 'off', 'tx', 'off', 'rx', 'off']);
}

type Opener = (t: { ifname: string; netns: string; ipv4: string }) => FrameDriver;

async function openerFor(kind: Exclude<DriverKind, 'tap'>): Promise<Opener> {
  switch (kind) {
    case 'af-packet': {
      const { openAfPacket } = await import('../../drivers/af-packet/index.js');
      return ({ ifname, netns, ipv4 }) => openAfPacket({ ifname, netns, ipv4 });
    }
    case 'af-xdp': {
      const { openAfXdp } = await import('../../drivers/af-xdp/index.js');
      return ({ ifname, netns, ipv4 }) => openAfXdp({ ifname, netns, ipv4, mode: 'own', bindMode: 'copy', attachMode: 'native' });
    }
    case 'raw-ip': {
      const { openRawIp } = await import('../../drivers/raw-ip/index.js');
      return ({ netns, ipv4 }) => openRawIp({ netns, protocols: ['icmp', 'udp', 'tcp'], localAddress: ipv4 });
    }
  }
}

/** Build the topology for `kind`. On failure everything made so far is removed before the error propagates. */
export async function buildTopology(kind: DriverKind, opts: { vethOffloads?: boolean } = {}): Promise<Topology> {
  const lab = new NetLab();
  const net = `10.77.${SUBNET[kind]}`;
  const kernelAddr = `${net}.1`;
  const bywayAddr = `${net}.2`;
  try {
    const kernelNs = lab.addNetns('bwk-');
    if (kind === 'tap') {
      const { openTap } = await import('../../drivers/tap/index.js');
      const driver = openTap({ name: uniqueName('bwt'), netns: kernelNs });
      try {
        ipIn(kernelNs, `addr add ${kernelAddr}/24 dev ${driver.ifname}`);
      } catch (e) {
        driver.close();
        throw e;
      }
      return { kind, lab, kernelNs, kernelIf: driver.ifname, bywayNs: undefined, bywayIf: driver.ifname, kernelAddr, bywayAddr, prefixLen: 24, medium: 'ethernet', driver, bywayMac: driver.hwAddress };
    }
    const bywayNs = lab.addNetns('bwy-');
    const raw = kind === 'raw-ip';
    const { a: bywayIf, b: kernelIf } = lab.addVeth(bywayNs, kernelNs, {
      addrB: `${kernelAddr}/24`,
      addrA: raw ? `${bywayAddr}/24` : undefined,
      txChecksumOffload: opts.vethOffloads === true,
    });
    if (!opts.vethOffloads) {
      wireLike(kernelNs, kernelIf);
      wireLike(bywayNs, bywayIf);
    }
    if (raw) {
      execIn(bywayNs, 'sysctl', ['-qw', 'net.ipv4.icmp_echo_ignore_all=1']);
      quietKernel(bywayNs);
    }
    const open = await openerFor(kind);
    const driver = open({ ifname: bywayIf, netns: bywayNs, ipv4: bywayAddr });
    return { kind, lab, kernelNs, kernelIf, bywayNs, bywayIf, kernelAddr, bywayAddr, prefixLen: 24, medium: driver.caps.medium, driver, bywayMac: driver.hwAddress };
  } catch (e) {
    lab.destroy();
    throw e;
  }
}

/** nftables in byway's namespace (raw IP): the kernel there must not answer byway's flows with RSTs or unreachables. */
export function quietKernel(ns: string): void {
  const rules = [
    'table ip byway_quiet {',
    '  chain out {',
    '    type filter hook output priority 0; policy accept;',
    '    tcp flags & rst == rst drop',
    '    icmp type destination-unreachable drop',
    '  }',
    '}',
  ].join('\n');
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`nft in ${ns} failed: ${r.stderr}`);
}

/** The fds of this process that stand for kernel resources a driver owns: sockets, /dev/net/tun, BPF objects. */
export function resourceFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the fd of the directory listing itself, already closed
    }
    if (/^socket:|^anon_inode:|\/dev\/net\/tun/.test(target)) out.set(Number(name), target);
  }
  return out;
}

/** Snapshot taken before a test, to compare with after it. */
export interface Baseline {
  readonly nativeOpen: number;
  readonly fds: Map<number, string>;
}

export function baseline(): Baseline {
  return { nativeOpen: loadNative().openCount(), fds: resourceFds() };
}

function driverClosed(d: FrameDriver): boolean | string {
  const flag = (d as { closed?: unknown }).closed;
  try {
    d.receive(0, 1, () => {});
    return 'receive() still works after close()';
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_DRIVER_CLOSED') return `receive() after close() threw ${(e as { code?: string }).code ?? String(e)}, not ERR_DRIVER_CLOSED`;
  }
  if (flag !== undefined && flag !== true) return `driver.closed is ${String(flag)}`;
  return true;
}

/**
 * Stop the kernel-side processes, check the (already closed) driver released everything, remove the namespaces,
 * and check nothing of this topology remains. Returns the problems found (empty when clean); never throws.
 */
export async function teardown(t: Topology, before: Baseline): Promise<string[]> {
  const problems: string[] = [];
  await t.lab.stopProcesses();
  const closed = driverClosed(t.driver);
  if (closed !== true) problems.push(`driver does not report closed: ${closed}`);
  if (t.kind === 'af-xdp' && t.bywayNs) {
    try {
      const shown = ipIn(t.bywayNs, `link show ${t.bywayIf}`);
      if (/prog\/xdp|xdpgeneric|xdpdrv|xdpoffload/.test(shown)) problems.push(`XDP program still attached to ${t.bywayIf}: ${shown.trim()}`);
    } catch (e) {
      problems.push(`cannot inspect ${t.bywayIf}: ${(e as Error).message}`);
    }
  }
  if (t.kind === 'tap' && t.lab.linkExists(t.kernelNs, t.kernelIf)) problems.push(`TAP device ${t.kernelIf} still exists after close()`);
  const open = loadNative().openCount();
  if (open !== before.nativeOpen) problems.push(`native handles open: ${open}, before the test: ${before.nativeOpen}`);
  const after = resourceFds();
  const leaked = [...after].filter(([fd, target]) => before.fds.get(fd) !== target).map(([fd, target]) => `${fd} -> ${target}`);
  if (leaked.length) problems.push(`fds left open: ${leaked.join(', ')}`);
  const namespaces = t.lab.namespaceNames;
  t.lab.destroy();
  const nsList = run('ip', ['netns', 'list']);
  for (const ns of namespaces) if (new RegExp(`^${ns}\\b`, 'm').test(nsList)) problems.push(`namespace ${ns} still listed`);
  const links = run('ip', ['-o', 'link', 'show']);
  for (const name of new Set([t.kernelIf, t.bywayIf])) if (new RegExp(`: ${name}[@:]`).test(links)) problems.push(`interface ${name} left in the root namespace`);
  return problems;
}
