/**
 * byway's configuration from the environment, for the preload (`node --import byway/register`) and `byway run`.
 *
 *   BYWAY_DRIVER   tap:NAME | af-packet:IFNAME | af-xdp:IFNAME | af-xdp:IFNAME:shared[:ipv6] | raw-ip[:IFNAME]
 *   BYWAY_ADDRESS  byway's address(es) with prefix length, IPv4 or IPv6, comma-separated (absent only with af-xdp
 *                  shared mode); an IPv6 one gives the stack IPv6
 *   BYWAY_GATEWAY  the default route's next hop: an IPv4 literal, an IPv6 one, or one of each separated by a comma
 *   BYWAY_NETNS    open the driver inside this network namespace (a name under /var/run/netns)
 *   BYWAY_PATH     the path strategy as rules (parsePathRules below)
 *   BYWAY_POLL     event | busy
 *   BYWAY_PROFILE  latency | throughput | safe (PROFILES below)
 *   BYWAY_CONFIG   a JSON file holding createStack options (its "driver" is a BYWAY_DRIVER string, its "path" a
 *                  rule string or { rules, default })
 *   BYWAY_CONTROL  off: no control socket; a path: the control socket's path (default: runtime dir/PID.sock)
 *
 * Precedence: the profile's options, then the JSON file's, then the individual variables. Every error is a
 * BywayError ERR_INVALID_ARG_VALUE whose message starts with the variable's name and says what is expected. Pure
 * parsing: nothing here opens a driver (see open-driver.ts).
 */
import { readFileSync } from 'node:fs';
import { BywayError } from '../../protocols/util/errors.js';
import { parseCidr, parseIpv4 } from '../../protocols/ipv4/address.js';
import { isIpv4Mapped, isLoopback, isMulticast, isUnspecified, parseIpv6Cidr, parseIpv6WithZone } from '../../protocols/ipv6/address.js';
import type { PathRule, PathRules, Path } from '../api/path.js';
import type { StackOptions } from '../api/stack.js';
import { validateStackOptions } from '../api/options.js';
import type { FrameDriver } from '../../drivers/types.js';

export type DriverKind = 'tap' | 'af-packet' | 'af-xdp' | 'raw-ip';

export interface DriverSpec {
  readonly kind: DriverKind;
  /** The TAP device or the interface (optional for raw-ip, which binds no interface). */
  readonly ifname: string | undefined;
  /** af-xdp:IFNAME:shared: byway shares the interface's address with the kernel. */
  readonly shared: boolean;
  /** af-xdp:IFNAME:shared:ipv6: the interface's IPv6 addresses are shared too (the driver's `ipv6: true`). */
  readonly ipv6?: boolean;
}

export type ProfileName = 'latency' | 'throughput' | 'safe';

/** Options for the driver that a profile or the config file may set (each driver takes the ones it knows). */
export interface DriverTuning {
  readonly busyPoll?: boolean;
  readonly maxBatch?: number;
  readonly tso?: boolean;
}

export interface Profile {
  readonly description: string;
  readonly stack: Omit<StackOptions, 'driver'>;
  readonly driver: DriverTuning;
}

/** The named profiles, as Onload's: each is a documented set of createStack (and driver) options. */
export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  latency: {
    description: 'busy poll, native spin 200 us, small batches (32), Nagle off',
    stack: { pollMode: 'busy', spinUs: 200, limits: { tcp: { noDelay: true } } },
    driver: { busyPoll: true, maxBatch: 32 },
  },
  throughput: {
    description: 'event mode, TSO where the driver has it, send/receive buffers up to 16 MiB',
    stack: { pollMode: 'event', gro: true, limits: { tcp: { maxSendBuffer: 16 << 20, maxReceiveBuffer: 16 << 20 } } },
    driver: { tso: true },
  },
  safe: { description: "byway's defaults", stack: {}, driver: {} },
};

export interface EnvConfig {
  readonly driver: DriverSpec;
  readonly netns: string | undefined;
  readonly profile: ProfileName;
  /** Everything for createStack but the driver (addresses, gateway, path rules, poll mode, limits...). */
  readonly stack: Omit<StackOptions, 'driver'>;
  readonly driverTuning: DriverTuning;
  /** The path rules as compiled, for the start line and `byway stat`. */
  readonly rules: PathRules;
  /** undefined: no control socket (BYWAY_CONTROL=off); '' : the default path. */
  readonly control: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

function bad(variable: string, expected: string, got: string): BywayError {
  return new BywayError('ERR_INVALID_ARG_VALUE', `${variable}: expected ${expected}; got '${got}'`);
}

const DRIVER_FORMS = "tap:NAME, af-packet:IFNAME, af-xdp:IFNAME, af-xdp:IFNAME:shared[:ipv6] or raw-ip[:IFNAME]";
const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;

export function parseDriverSpec(value: string, variable = 'BYWAY_DRIVER'): DriverSpec {
  const parts = value.trim().split(':');
  const kind = parts[0];
  const ifname = parts[1];
  if (kind === 'raw-ip' && parts.length <= 2 && (ifname === undefined || IFNAME.test(ifname))) return { kind, ifname, shared: false };
  if ((kind === 'tap' || kind === 'af-packet') && parts.length === 2 && IFNAME.test(ifname!)) return { kind, ifname, shared: false };
  if (kind === 'af-xdp' && ifname !== undefined && IFNAME.test(ifname)) {
    if (parts.length === 2) return { kind, ifname, shared: false };
    if (parts.length === 3 && parts[2] === 'shared') return { kind, ifname, shared: true };
    if (parts.length === 4 && parts[2] === 'shared' && parts[3] === 'ipv6') return { kind, ifname, shared: true, ipv6: true };
  }
  throw bad(variable, `${DRIVER_FORMS} (an interface name is 1-15 letters, digits, '_', '.', '@' or '-')`, value);
}

const ADDRESS_FORMS = "an address with its prefix length ('10.0.0.2/24' or 'fd00::2/64'), or several separated by commas";

/**
 * BYWAY_ADDRESS: IPv4 (`a.b.c.d/len`, len 0-32) and IPv6 (`x:x::x/len`, len 0-128) addresses with their prefix
 * length, as createStack's `address` takes them. An IPv6 address byway cannot hold as its own (unspecified,
 * loopback, multicast, IPv4-mapped, with a zone) is refused with the reason.
 */
export function parseAddresses(value: string, variable = 'BYWAY_ADDRESS'): string[] {
  const list = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw bad(variable, ADDRESS_FORMS, value);
  for (const a of list) {
    if (!a.includes(':')) {
      if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(a) || parseCidr(a) === undefined) throw bad(variable, ADDRESS_FORMS, a);
      continue;
    }
    const six = a.includes('/') ? parseIpv6Cidr(a) : undefined;
    if (six === undefined) {
      const slash = a.indexOf('/');
      const bare = slash < 0 ? a : a.slice(0, slash);
      if (bare.includes('%') && parseIpv6WithZone(bare) !== undefined) throw bad(variable, `an IPv6 address without a zone ('%...'): byway's address is on its own link`, a);
      throw bad(variable, slash >= 0 && parseIpv6WithZone(bare) !== undefined ? 'an IPv6 prefix length from 0 to 128' : ADDRESS_FORMS, a);
    }
    const why = isUnspecified(six.address) ? 'unspecified' : isLoopback(six.address) ? 'loopback' : isMulticast(six.address) ? 'multicast' : isIpv4Mapped(six.address) ? 'IPv4-mapped (give the IPv4 address itself)' : undefined;
    if (why !== undefined) throw bad(variable, `a unicast IPv6 address byway can hold, not ${why}`, a);
  }
  return list;
}

/** The first IPv4 address of createStack's `address` option (with its prefix length), for the drivers that filter on it. */
export function firstIpv4Address(address: string | readonly string[] | undefined): string | undefined {
  const list = address === undefined ? [] : typeof address === 'string' ? [address] : address;
  return list.find((a) => !a.includes(':'));
}

/** BYWAY_GATEWAY: an IPv4 next hop, an IPv6 one (a link-local one may carry its zone), or one of each. */
export function parseGateways(value: string, variable = 'BYWAY_GATEWAY'): string | string[] {
  const expected = "an IPv4 address ('10.0.0.1'), an IPv6 one ('fe80::1'), or one of each separated by a comma";
  const list = value.split(',').map((s) => s.trim());
  const families = list.map((g) => (parseIpv4(g) !== undefined ? 4 : g.includes(':') && parseIpv6WithZone(g) !== undefined ? 6 : 0));
  const bad1 = families.indexOf(0);
  if (bad1 >= 0) throw bad(variable, expected, list[bad1] ?? value);
  if (list.length > 2 || (list.length === 2 && families[0] === families[1])) throw bad(variable, expected, value);
  return list.length === 1 ? list[0]! : list;
}

function parsePort(s: string, variable: string, whole: string): number {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1 && n <= 65535)) throw bad(variable, `a port from 1 to 65535 in rule '${whole}'`, s);
  return n;
}

const PATH_GRAMMAR =
  "comma-separated rules SELECTOR=bypass|kernel, first match wins, e.g. 'tcp:5432=bypass,udp:53=kernel,10.20.0.0/16=bypass,default=kernel'; " +
  "a SELECTOR joins with ':' any of tcp|udp, in|out, a port or ports (80|443), an address or CIDR; 'default' names the path of unmatched flows";

/**
 * The rule syntax of BYWAY_PATH. Each selector part narrows the rule: `tcp`/`udp` (protocol), `in`/`out`
 * (direction), a port list `80|443` (the local port of an inbound flow, the remote port of an outbound one), an
 * address or CIDR (the remote address; for a listening socket, its local address). `default=PATH` (anywhere in
 * the list, at most once) gives the path of flows no rule matches (default: bypass).
 */
export function parsePathRules(value: string, variable = 'BYWAY_PATH'): PathRules {
  const rules: PathRule[] = [];
  let fallback: Path | undefined;
  const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw bad(variable, PATH_GRAMMAR, value);
  for (const item of items) {
    const eq = item.lastIndexOf('=');
    const selector = eq < 0 ? '' : item.slice(0, eq).trim();
    const path = eq < 0 ? '' : item.slice(eq + 1).trim();
    if (path !== 'bypass' && path !== 'kernel') throw bad(variable, `${PATH_GRAMMAR}; rule '${item}' has no path bypass or kernel`, value);
    if (selector === 'default') {
      if (fallback !== undefined) throw bad(variable, `${PATH_GRAMMAR}; 'default' is given twice`, value);
      fallback = path;
      continue;
    }
    if (selector.length === 0) throw bad(variable, `${PATH_GRAMMAR}; rule '${item}' has no selector`, value);
    const rule: { path: Path; protocol?: 'tcp' | 'udp'; direction?: 'inbound' | 'outbound'; port?: number[]; cidr?: string } = { path };
    for (const part of selector.split(':')) {
      const once = (key: keyof typeof rule) => {
        if (rule[key] !== undefined) throw bad(variable, `${PATH_GRAMMAR}; rule '${item}' gives its ${key} twice`, value);
      };
      if (part === 'tcp' || part === 'udp') {
        once('protocol');
        rule.protocol = part;
      } else if (part === 'in' || part === 'out') {
        once('direction');
        rule.direction = part === 'in' ? 'inbound' : 'outbound';
      } else if (/^\d+(\|\d+)*$/.test(part)) {
        once('port');
        rule.port = part.split('|').map((p) => parsePort(p, variable, item));
      } else if (parseCidr(part) !== undefined || parseIpv4(part) !== undefined) {
        once('cidr');
        rule.cidr = part.includes('/') ? part : `${part}/32`;
      } else {
        throw bad(variable, `${PATH_GRAMMAR}; '${part}' in rule '${item}' is none of these`, value);
      }
    }
    rules.push(rule);
  }
  return { rules, default: fallback ?? 'bypass' };
}

/** Loopback stays in the kernel: byway has no loopback interface. Added after the user's rules. */
export const IMPLICIT_RULES: readonly PathRule[] = [{ cidr: '127.0.0.0/8', path: 'kernel' }];

/** The rules as one line, in BYWAY_PATH's syntax. */
export function formatPathRules(r: PathRules): string {
  const one = (x: PathRule): string => {
    const parts: string[] = [];
    if (x.protocol) parts.push(x.protocol);
    if (x.direction) parts.push(x.direction === 'inbound' ? 'in' : 'out');
    if (x.port !== undefined) parts.push((Array.isArray(x.port) ? x.port : [x.port]).join('|'));
    if (x.cidr !== undefined) parts.push(...(Array.isArray(x.cidr) ? x.cidr : [x.cidr]));
    return `${parts.join(':')}=${x.path}`;
  };
  return [...r.rules.map(one), `default=${r.default}`].join(',');
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BywayError('ERR_INVALID_ARG_VALUE', `BYWAY_CONFIG: cannot read '${file}': ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BywayError('ERR_INVALID_ARG_VALUE', `BYWAY_CONFIG: '${file}' is not JSON: ${(err as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new BywayError('ERR_INVALID_ARG_VALUE', `BYWAY_CONFIG: expected a JSON object of createStack options in '${file}'`);
  }
  return json as Record<string, unknown>;
}

/** Deep merge of plain objects (b wins); arrays and other values are replaced. */
function merge<T extends object>(a: T, b: object): T {
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlain(prev) && isPlain(v) ? merge(prev, v) : v;
  }
  return out as T;
}
const isPlain = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Reads and checks the whole configuration. Throws the first problem found (naming its variable). */
export function configFromEnv(env: Env): EnvConfig {
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const profileName = get('BYWAY_PROFILE') ?? 'safe';
  if (!(profileName in PROFILES)) throw bad('BYWAY_PROFILE', "'latency', 'throughput' or 'safe'", profileName);
  const profile = PROFILES[profileName as ProfileName];

  let stack: Record<string, unknown> = merge({}, profile.stack);
  let driverTuning: DriverTuning = { ...profile.driver };
  let driver: DriverSpec | undefined;
  let rules: PathRules | undefined;
  const file = get('BYWAY_CONFIG');
  if (file !== undefined) {
    const json = readConfigFile(file);
    const { driver: d, path: p, driverOptions, ...rest } = json;
    if (d !== undefined) {
      if (typeof d !== 'string') throw bad('BYWAY_CONFIG', `"driver" as a string: ${DRIVER_FORMS}`, JSON.stringify(d));
      driver = parseDriverSpec(d, 'BYWAY_CONFIG (driver)');
    }
    if (p !== undefined) {
      if (typeof p === 'string') rules = parsePathRules(p, 'BYWAY_CONFIG (path)');
      else if (p === 'kernel' || p === 'bypass') rules = { rules: [], default: p };
      else if (isPlain(p) && Array.isArray(p['rules'])) rules = { rules: p['rules'] as PathRule[], default: (p['default'] as Path | undefined) ?? 'bypass' };
      else throw bad('BYWAY_CONFIG', '"path" as a rule string or { "rules": [...], "default": "bypass" | "kernel" }', JSON.stringify(p));
    }
    if (driverOptions !== undefined) {
      if (!isPlain(driverOptions)) throw bad('BYWAY_CONFIG', '"driverOptions" as an object { busyPoll?, maxBatch?, tso? }', JSON.stringify(driverOptions));
      for (const [k, v] of Object.entries(driverOptions)) {
        const ok = k === 'maxBatch' ? Number.isInteger(v) && (v as number) > 0 : k === 'busyPoll' || k === 'tso' ? typeof v === 'boolean' : false;
        if (!ok) throw bad('BYWAY_CONFIG', 'driverOptions.busyPoll (boolean), driverOptions.maxBatch (a positive integer) or driverOptions.tso (boolean)', `${k}: ${JSON.stringify(v)}`);
      }
      driverTuning = { ...driverTuning, ...(driverOptions as DriverTuning) };
    }
    stack = merge(stack, rest);
  }

  const driverVar = get('BYWAY_DRIVER');
  if (driverVar !== undefined) driver = parseDriverSpec(driverVar);
  if (driver === undefined) throw bad('BYWAY_DRIVER', `the driver to open: ${DRIVER_FORMS}`, '');

  const address = get('BYWAY_ADDRESS');
  if (address !== undefined) stack['address'] = parseAddresses(address);
  if (stack['address'] === undefined && !driver.shared) {
    throw bad('BYWAY_ADDRESS', "byway's address with its prefix length ('10.0.0.2/24') (only af-xdp:IFNAME:shared takes the interface's)", '');
  }
  const gateway = get('BYWAY_GATEWAY');
  if (gateway !== undefined) stack['gateway'] = parseGateways(gateway);
  const poll = get('BYWAY_POLL');
  if (poll !== undefined) {
    if (poll !== 'event' && poll !== 'busy') throw bad('BYWAY_POLL', "'event' or 'busy'", poll);
    stack['pollMode'] = poll;
  }
  const pathVar = get('BYWAY_PATH');
  if (pathVar !== undefined) rules = parsePathRules(pathVar);
  rules ??= { rules: [], default: 'bypass' };
  const compiled: PathRules = { rules: [...rules.rules, ...IMPLICIT_RULES], default: rules.default };
  stack['path'] = compiled;

  const netns = get('BYWAY_NETNS');
  if (netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(netns)) throw bad('BYWAY_NETNS', 'the name of a network namespace (under /var/run/netns)', netns);

  const controlVar = get('BYWAY_CONTROL');
  const control = controlVar === 'off' ? undefined : controlVar === undefined || controlVar === 'on' ? '' : controlVar;
  if (control !== undefined && control !== '' && !control.startsWith('/')) throw bad('BYWAY_CONTROL', "'off', 'on' or an absolute path for the control socket", control);

  // The stack options as createStack will check them, with a stand-in driver (the real one is opened later).
  try {
    validateStackOptions({ ...(stack as object), driver: {} as FrameDriver } as StackOptions);
  } catch (err) {
    const where = file !== undefined ? `BYWAY_CONFIG ('${file}') or the profile` : 'BYWAY_PROFILE';
    throw new BywayError('ERR_INVALID_ARG_VALUE', `${where}: ${(err as Error).message}`);
  }
  return { driver, netns, profile: profileName as ProfileName, stack: stack as Omit<StackOptions, 'driver'>, driverTuning, rules: compiled, control };
}
