/**
 * `byway doctor`: checks what a driver needs on this machine (privileges, the native addon, the interface, its MTU
 * and queues, XDP) and prints one line per check as it goes: `ok`, `warn` or `FIX`, with what to do for the last
 * two. Resolves with the number of FIX lines.
 *
 * Progress (`io.progress`, stderr in the command): a line saying what it checks before each check, and once a
 * second while one runs longer (a command such as `ip` or `ethtool` that hangs on a busy netlink, the addon's
 * load), so the result lines and the exit code stay as they were.
 */
import { readFileSync, existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mallocTuning, nativeAvailability } from '../../drivers/native/index.js';
import type { DriverSpec } from '../register/config.js';
import { formatDriverSpec } from '../register/open-driver.js';

const CAP = { NET_ADMIN: 12, NET_RAW: 13, SYS_ADMIN: 21, BPF: 39 } as const;

function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

interface LinkInfo {
  ifname: string;
  mtu: number;
  operstate: string;
  flags: string[];
  num_rx_queues?: number;
  num_tx_queues?: number;
  xdp?: { mode?: number; prog?: { id?: number } };
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ family: string; local: string; prefixlen: number }>;
}

/** A command's exit status and output (status null: it could not run or timed out). */
export type Exec = (cmd: string, args: readonly string[], timeoutMs: number) => Promise<{ status: number | null; stdout: string }>;

const execCommand: Exec = (cmd, args, timeoutMs) =>
  new Promise((resolve) => {
    execFile(cmd, args as string[], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout) => {
      const status = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
      resolve({ status, stdout: stdout ?? '' });
    });
  });

async function ipJson(exec: Exec, netns: string | undefined, args: string[]): Promise<unknown> {
  const r = await exec('ip', [...(netns ? ['-n', netns] : []), '-j', ...args], 5000);
  if (r.status !== 0) return undefined;
  try {
    return JSON.parse(r.stdout);
  } catch {
    return undefined;
  }
}

/**
 * What to do about missing capabilities, narrowest first (docs/drivers.md, "Privileges"). Never `setcap` on the node
 * found on PATH: every Node program any user starts would then hold the capabilities.
 */
export function privilegesFix(missing: readonly string[], driverKind: string): string {
  const caps = ['net_raw', 'net_admin', ...(driverKind === 'af-xdp' ? ['bpf'] : [])].join(',');
  return (
    `privileges: missing ${missing.map((c) => `CAP_${c}`).join(', ')}: start the service in a network namespace prepared by root ` +
    `with only these capabilities (systemd AmbientCapabilities=), or give them to a dedicated copy of node used by this ` +
    `service alone (setcap cap_${caps.replace(/,/g, ',cap_')}+ep /opt/myservice/node), or run as root. Not setcap on the ` +
    `system's node: every Node program would then hold them. See docs/drivers.md, "Privileges"`
  );
}

export interface DoctorOptions {
  readonly driver: DriverSpec;
  readonly netns?: string | undefined;
  readonly address?: string | undefined;
}

export interface DoctorIO {
  /** A result line (stdout in the command). */
  print(line: string): void;
  /** What is being checked, and that it still is after each second (stderr in the command). */
  progress?(line: string): void;
  /** Runs `ip`, `ethtool` (tests give their own). */
  exec?: Exec;
}

export async function doctor(o: DoctorOptions, io: DoctorIO): Promise<number> {
  const print = io.print;
  const exec = io.exec ?? execCommand;
  /** Run one check, saying what it is and, each second it lasts beyond the first, that it still runs. */
  const checking = async <T>(what: string, check: () => T | Promise<T>): Promise<T> => {
    io.progress?.(`byway doctor: checking ${what}`);
    const started = Date.now();
    const ticker = io.progress ? setInterval(() => io.progress!(`byway doctor: still checking ${what} (${Math.round((Date.now() - started) / 1000)} s)`), 1000) : undefined;
    try {
      return await check();
    } finally {
      clearInterval(ticker);
    }
  };
  let fixes = 0;
  const ok = (m: string) => print(`ok    ${m}`);
  const warn = (m: string) => print(`warn  ${m}`);
  const fix = (m: string) => {
    fixes++;
    print(`FIX   ${m}`);
  };
  print(`byway doctor: ${formatDriverSpec(o.driver)}${o.netns ? ` in netns ${o.netns}` : ''}${o.address ? ` address ${o.address}` : ''}`);

  // Privileges
  const caps = await checking('privileges', effectiveCaps);
  const has = (c: number): boolean => (caps & (1n << BigInt(c))) !== 0n;
  const need: Array<keyof typeof CAP> = ['NET_RAW', 'NET_ADMIN'];
  if (o.netns) need.push('SYS_ADMIN');
  if (o.driver.kind === 'af-xdp') need.push(has(CAP.BPF) ? 'BPF' : 'SYS_ADMIN');
  const missing = need.filter((c) => !has(CAP[c]));
  if (missing.length === 0) ok(`privileges: ${need.map((c) => `CAP_${c}`).join(', ')}${process.getuid?.() === 0 ? ' (root)' : ''}`);
  else fix(privilegesFix(missing, o.driver.kind));

  // Native addon
  const native = await checking('the native addon', nativeAvailability);
  if (native.available) {
    // What its load did to glibc (drivers/native/malloc-tuning.ts): said, since it is process-wide.
    const t = mallocTuning();
    ok(`native addon: loaded; ${t.applied ? `glibc keeps up to ${t.trimThreshold} bytes of freed heap at its top (BYWAY_MALLOC_TRIM_THRESHOLD)` : t.reason}`);
  }
  else fix(`native addon: ${native.reason}: rebuild it with 'node scripts/build-native.mjs' (needs a C compiler and the Linux headers)`);

  // Namespace
  if (o.netns) {
    if (existsSync(`/var/run/netns/${o.netns}`) || existsSync(`/run/netns/${o.netns}`)) ok(`netns ${o.netns}: exists`);
    else {
      fix(`netns ${o.netns}: not found under /var/run/netns: create it with 'ip netns add ${o.netns}'`);
      return fixes;
    }
  }

  // Interface
  const ifname = o.driver.ifname;
  if (o.driver.kind === 'tap') {
    if (existsSync('/dev/net/tun')) ok('/dev/net/tun: present');
    else fix("/dev/net/tun: missing: 'modprobe tun' (or mknod /dev/net/tun c 10 200)");
  }
  if (ifname === undefined) {
    if (o.driver.kind === 'raw-ip') ok('raw-ip binds no interface: it shares the kernel address given by BYWAY_ADDRESS');
    return fixes;
  }
  const links = (await checking(`interface ${ifname}`, () => ipJson(exec, o.netns, ['-d', 'link', 'show', 'dev', ifname]))) as LinkInfo[] | undefined;
  const link = links?.[0];
  if (link === undefined) {
    if (o.driver.kind === 'tap') ok(`interface ${ifname}: absent; byway creates the TAP device (a persistent one: ip tuntap add dev ${ifname} mode tap)`);
    else fix(`interface ${ifname}: not found${o.netns ? ` in netns ${o.netns}` : ''}: check 'ip ${o.netns ? `-n ${o.netns} ` : ''}link'`);
    return fixes;
  }
  const kind = link.linkinfo?.info_kind;
  const up = link.flags.includes('UP');
  if (up) ok(`interface ${ifname}: ${kind ?? 'device'}, ${link.operstate.toLowerCase()}`);
  else fix(`interface ${ifname}: down: 'ip ${o.netns ? `-n ${o.netns} ` : ''}link set ${ifname} up'`);
  if (o.driver.kind === 'tap' && kind !== 'tun') fix(`interface ${ifname}: is ${kind ?? 'not a TAP device'}, BYWAY_DRIVER says tap`);

  if (link.mtu >= 576) ok(`mtu ${link.mtu}${link.mtu > 1500 ? ' (jumbo: the peer must take it too)' : ''}`);
  else fix(`mtu ${link.mtu}: below 576; 'ip link set ${ifname} mtu 1500'`);

  const rxq = link.num_rx_queues ?? 1;
  if (o.driver.kind === 'af-xdp' && rxq > 1) warn(`${rxq} rx queues: byway binds queue 0 only; flows hashed to other queues miss it ('ethtool -L ${ifname} combined 1', or an ntuple rule to queue 0; or 'byway run --workers ${rxq}', a worker per queue)`);
  else ok(`${rxq} rx queue(s), ${link.num_tx_queues ?? 1} tx queue(s)`);

  // Addresses: in own-address mode byway's address must not be the kernel's too
  const addrs = (await checking(`the kernel's addresses on ${ifname}`, () => ipJson(exec, o.netns, ['addr', 'show', 'dev', ifname]))) as LinkInfo[] | undefined;
  const kernelAddrs = addrs?.[0]?.addr_info?.filter((a) => a.family === 'inet') ?? [];
  const mine = o.address?.split('/')[0];
  if (o.driver.kind === 'af-packet' || (o.driver.kind === 'af-xdp' && !o.driver.shared) || o.driver.kind === 'tap') {
    if (mine && kernelAddrs.some((a) => a.local === mine)) {
      fix(`address ${mine}: the kernel holds it on ${ifname} too; give byway its own ('ip addr del ${mine}/${kernelAddrs.find((a) => a.local === mine)!.prefixlen} dev ${ifname}' or another BYWAY_ADDRESS)`);
    } else if (mine) ok(`address ${mine}: not held by the kernel on ${ifname}${kernelAddrs.length ? ` (the kernel has ${kernelAddrs.map((a) => a.local).join(', ')}: its flows stay there)` : ''}`);
  }
  const kernelAddrs6 = addrs?.[0]?.addr_info?.filter((a) => a.family === 'inet6' && !a.local.startsWith('fe80:')) ?? [];
  if (o.driver.kind === 'af-xdp' && o.driver.shared && kernelAddrs.length === 0 && !(o.driver.ipv6 && kernelAddrs6.length > 0)) {
    fix(`shared mode: ${ifname} has no ${o.driver.ipv6 ? 'IPv4 or global IPv6' : 'IPv4'} address in the kernel to share; add one with 'ip addr add'`);
  }

  // XDP
  if (o.driver.kind === 'af-xdp') {
    if (link.xdp?.prog?.id !== undefined) fix(`xdp: a program (id ${link.xdp.prog.id}) is attached to ${ifname} already; remove it with 'ip link set dev ${ifname} xdp off' if it is not byway's`);
    else ok('xdp: no program attached (byway attaches its own)');
    const drv = await checking(`the XDP support of ${ifname}'s driver`, () =>
      o.netns ? exec('ip', ['netns', 'exec', o.netns, 'ethtool', '-i', ifname], 5000) : exec('ethtool', ['-i', ifname], 5000),
    );
    const name = /^driver:\s*(\S+)/m.exec(drv.stdout ?? '')?.[1];
    const nativeXdp = ['veth', 'virtio_net', 'mlx5_core', 'mlx4_en', 'i40e', 'ice', 'ixgbe', 'igb', 'igc', 'bnxt_en', 'ena', 'tun'];
    if (name && nativeXdp.includes(name)) ok(`xdp: driver ${name} has native XDP${name === 'veth' ? ' (copy mode: no zero-copy on veth)' : ''}`);
    else if (name) warn(`xdp: driver ${name} is not known to have native XDP; byway falls back to generic mode (slower)`);
  }
  return fixes;
}
