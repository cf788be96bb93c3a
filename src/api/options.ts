/**
 * Checks `createStack` options before anything is built: a misspelt name (`fanot`, `limits.tcp.sendBufer`) or a
 * value of the wrong kind (`pollMode: 'spin'`, `mtu: 70000`, an address without its prefix) throws
 * ERR_INVALID_ARG_VALUE naming the option, with the nearest valid name for an unknown one, instead of being
 * ignored. The name lists are typed against the option interfaces, so an option added there and not here does not
 * compile. Ranges that only the cores know (TCP buffer relations, ephemeral ranges) stay checked by the cores.
 */
import { invalidArg } from '../../protocols/util/errors.js';
import { LOSS_DETECTION, type TcpOptions } from '../../protocols/tcp/options.js';
import type { HystartOptions } from '../../protocols/tcp/cc/hystart.js';
import type { ReassemblyOptions } from '../../protocols/ipv4/reassembly.js';
import type { NeighbourOptions } from '../stack/neighbour.js';
import type { UdpOptions } from '../stack/udp.js';
import type { IcmpOptions } from '../stack/stack.js';
import type { StackOptions } from './stack.js';
import type { Ipv6Options } from '../stack/ipv6.js';
import type { RouterDiscoveryTuning } from '../stack/autoconf.js';
import type { DadOptions } from '../../protocols/icmpv6/dad.js';
import type { NdpNeighbourOptions } from '../../protocols/icmpv6/neighbour-cache.js';
import type { Ipv6ReassemblyOptions } from '../../protocols/ipv6/reassembly.js';
import type { Icmpv6RateLimitOptions } from '../../protocols/icmpv6/errors.js';
import type { PathMtuOptions } from '../../protocols/ipv6/pmtu.js';
import type { ExtensionLimits } from '../../protocols/ipv6/wire-ext.js';
import type { MldOptions } from '../../protocols/icmpv6/mld.js';
import type { ListenerOptions } from '../../protocols/multicast/listener.js';

type Check = (v: unknown) => string | undefined;
type Schema<T> = { readonly [K in keyof Required<T>]: Check };

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const str: Check = (v) => (typeof v === 'string' ? undefined : 'a string');
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'true or false');
const fn: Check = (v) => (typeof v === 'function' ? undefined : 'a function');
const bytes: Check = (v) => (v instanceof Uint8Array ? undefined : 'a Uint8Array');
const obj: Check = (v) => (isObject(v) ? undefined : 'an object');
const num =
  (min: number, max = Infinity, integer = false): Check =>
  (v) =>
    typeof v === 'number' && v >= min && v <= max && (!integer || Number.isInteger(v))
      ? undefined
      : `${integer ? 'an integer' : 'a number'} ${max === Infinity ? `>= ${min}` : `from ${min} to ${max}`}`;
const oneOf =
  (...values: readonly string[]): Check =>
  (v) =>
    values.includes(v as string) ? undefined : values.map((x) => `'${x}'`).join(' or ');
const cidr: Check = (v) =>
  typeof v === 'string' && (/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(v) || /^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*\/\d+$/.test(v))
    ? undefined
    : "an address with its prefix length ('10.0.0.1/24' or 'fd00::1/64')";

const count = num(0, Number.MAX_SAFE_INTEGER, true);
const number: Check = (v) => (typeof v === 'number' ? undefined : 'a number');
const ms = num(0);

const NEIGHBOUR: Schema<NeighbourOptions> = {
  reachableMs: ms,
  retransmitMs: ms,
  maxRequests: count,
  unicastProbes: count,
  maxEntries: count,
  maxQueuedPackets: count,
  maxQueuedBytes: count,
};
const REASSEMBLY: Schema<ReassemblyOptions> = { timeoutMs: ms, maxBytes: count, maxDatagrams: count, maxFragments: count };
const UDP: Schema<UdpOptions> = { ephemeralLow: num(1, 65535, true), ephemeralHigh: num(1, 65535, true), recvBufferBytes: count, maxSockets: count };
const ICMP: Schema<IcmpOptions> = { errorRatePerSec: num(0), errorBurst: count, echoReplies: bool, minPmtu: num(68, 65535, true), pmtuExpiryMs: ms, echoIdent: num(0, 65535, true) };
// Ranges are checked by resolveTcpOptions (it knows how the values relate); here the names and the kinds.
const TCP: Schema<Omit<TcpOptions, 'rng'>> = {
  isnKey: bytes,
  cookieKey: bytes,
  cookieTimeOrigin: number,
  isn: fn,
  congestionControl: fn,
  noDelay: bool, coalesceAcks: bool, timestamps: bool, windowScaling: bool, sack: bool, keepAlive: bool,
  synCookies: bool, mss: number, minMss: number, sendBuffer: number, maxSendBuffer: number, receiveBuffer: number,
  maxReceiveBuffer: number, oooLimit: number, oooTotalLimit: number, bufferMemoryLimit: number, msl: number,
  finWait2Timeout: number, initialRto: number, minRto: number, maxRto: number, initialWindowSegments: number,
  delayedAckMs: number, quickAcks: number, synRetries: number, synAckRetries: number, maxRetransmits: number,
  keepAliveIdle: number, keepAliveInterval: number, keepAliveCount: number, synQueueLimit: number,
  challengeAckLimit: number, rstRateLimit: number, invalidAckIntervalMs: number, ephemeralLow: number,
  ephemeralHigh: number, maxTimeWait: number, maxConnections: number, timersPerPoll: number, rtoSpread: number,
  closeBurst: number,
  profile: oneOf('byway', 'linux'),
  delayFinAck: bool,
  finClearsSack: bool,
  ignoreAckOfUnsent: bool,
  acceptWholeWhenEmpty: bool,
  acceptFinAtZeroWindow: bool,
  slowStartAfterIdle: bool,
  pushBursts: bool,
  minTsoSegs: number,
  abcLimit: number,
  prr: bool,
  minshallNagle: bool,
  ssthreshFromCwnd: bool,
  limitedTransmit: bool,
  ecn: (v) => (v === 0 || v === 1 || v === 2 ? undefined : '0, 1 or 2'),
  rtoFormula: oneOf('rfc6298', 'linux'),
  lossDetection: oneOf(...LOSS_DETECTION),
  hystart: nested('limits.tcp.hystart', {
    variant: oneOf('off', 'rfc9406', 'linux'),
    detect: oneOf('delay', 'ack-train', 'both'),
    lowWindow: num(0),
    ackDeltaMs: num(0),
    minSamples: count,
    minRttThreshMs: num(0),
    maxRttThreshMs: num(0),
    cssGrowthDivisor: num(1),
    cssRounds: count,
    slowStartLimit: count,
  } satisfies Schema<HystartOptions>),
};

const IPV6: Schema<Ipv6Options> = {
  linkLocal: bool,
  hopLimit: num(1, 255, true),
  echoReplies: bool,
  dad: nested('ipv6.dad', { dupAddrDetectTransmits: count, retransMs: ms, maxStartDelayMs: ms } satisfies Schema<DadOptions>),
  neighbour: nested('ipv6.neighbour', {
    baseReachableMs: ms,
    retransMs: ms,
    delayFirstProbeMs: ms,
    maxMulticastSolicit: count,
    maxUnicastSolicit: count,
    maxEntries: count,
    maxQueuedPackets: count,
    maxQueuedBytes: count,
    staleGcMs: ms,
  } satisfies Schema<NdpNeighbourOptions>),
  reassembly: nested('ipv6.reassembly', { timeoutMs: ms, maxBytes: count, maxDatagrams: count, maxFragments: count } satisfies Schema<Ipv6ReassemblyOptions>),
  icmpErrors: nested('ipv6.icmpErrors', { ratePerSecond: num(0), burst: count } satisfies Schema<Icmpv6RateLimitOptions>),
  pmtu: nested('ipv6.pmtu', { expiryMs: ms, maxEntries: count } satisfies Schema<PathMtuOptions>),
  extensionLimits: nested('ipv6.extensionLimits', { maxHeaders: count, maxOptions: count } satisfies Schema<ExtensionLimits>),
  acceptRa: bool,
  slaac: bool,
  acceptRedirects: bool,
  routerDiscovery: nested('ipv6.routerDiscovery', {
    maxRtrSolicitations: count,
    rtrSolicitationIntervalMs: ms,
    maxRtrSolicitationDelayMs: ms,
    idgenRetries: count,
    maxRouters: count,
    maxPrefixes: count,
  } satisfies Schema<RouterDiscoveryTuning>),
  stableSecret: (v) => (typeof v === 'string' && /^(?:[0-9a-fA-F]{2}){16,}$/.test(v) ? undefined : 'a string of at least 32 hex digits (an even number)'),
  mld: (v) =>
    v === false ? undefined : nested('ipv6.mld', { robustness: count, unsolicitedReportIntervalMs: ms, olderVersionQuerierTimeoutMs: ms } satisfies Schema<MldOptions>)(v),
};

const LIMITS: Schema<NonNullable<StackOptions['limits']>> = {
  neighbour: nested('limits.neighbour', NEIGHBOUR),
  reassembly: nested('limits.reassembly', REASSEMBLY),
  udp: nested('limits.udp', UDP),
  icmp: nested('limits.icmp', ICMP),
  tcp: nested('limits.tcp', TCP),
};

const STACK: Schema<StackOptions> = {
  driver: obj,
  address: (v) => (Array.isArray(v) ? (v.length > 0 ? v.map(cidr).find((x) => x !== undefined) : 'at least one address') : cidr(v)),
  gateway: (v) => (typeof v === 'string' || (Array.isArray(v) && v.every((g) => typeof g === 'string')) ? undefined : 'a string or an array of strings (one per family)'),
  routes: (v) => (Array.isArray(v) ? undefined : 'an array of { destination, gateway?, metric?, mtu? }'),
  mac: str,
  mtu: num(68, 65535, true),
  vlan: num(0, 4094, true),
  ttl: num(1, 255, true),
  path: (v) => (typeof v === 'string' || typeof v === 'function' || isObject(v) ? undefined : "'kernel', 'bypass', a function or { rules, default }"),
  limits: nested('limits', LIMITS),
  ipv6: (v) => (typeof v === 'boolean' ? undefined : nested('ipv6', IPV6)(v)),
  pollMode: oneOf('event', 'busy'),
  spinMs: num(0, 1000),
  gro: bool,
  gso: bool,
  answerArp: bool,
  igmp: (v) =>
    v === false ? undefined : nested('igmp', { robustness: count, unsolicitedReportIntervalMs: ms, olderVersionQuerierTimeoutMs: ms } satisfies Schema<ListenerOptions>)(v),
  spinUs: num(0, 10000),
  turnBurstUs: num(0, 10000),
  nativeTurns: bool,
  clock: (v) => (isObject(v) && typeof v['now'] === 'function' ? undefined : 'an object with now()'),
  rng: (v) => (isObject(v) && typeof v['nextU32'] === 'function' ? undefined : 'an object with nextU32()'),
};

/** Throws ERR_INVALID_ARG_VALUE for the first unknown option name or invalid value in `options`. */
export function validateStackOptions(options: StackOptions): void {
  checkObject('options', options as unknown as Record<string, unknown>, STACK);
  const mtu = options.mtu;
  const driverMtu = (options.driver as { caps?: { mtu?: number } }).caps?.mtu;
  if (mtu !== undefined && driverMtu !== undefined && mtu > driverMtu) {
    throw invalidArg(`option mtu (${mtu}) is above the driver's MTU (${driverMtu})`);
  }
}

function nested(path: string, schema: Schema<object>): Check {
  return (v) => {
    if (!isObject(v)) return 'an object';
    checkObject(path, v, schema);
    return undefined;
  };
}

function checkObject(path: string, o: Record<string, unknown>, schema: Schema<object>): void {
  const names = Object.keys(schema);
  for (const key of Object.keys(o)) {
    const check = (schema as Record<string, Check>)[key];
    const where = path === 'options' ? key : `${path}.${key}`;
    if (check === undefined) {
      const near = nearest(key, names);
      throw invalidArg(`unknown option ${where}${near ? `; did you mean ${path === 'options' ? near : `${path}.${near}`}?` : ''} (valid: ${names.join(', ')})`);
    }
    const value = o[key];
    if (value === undefined) continue;
    const want = check(value);
    if (want !== undefined) throw invalidArg(`option ${where} must be ${want}, got ${describe(value)}`);
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return Array.isArray(v) ? 'an array' : typeof v;
}

/** The valid name closest to `key` by edit distance, if close enough to be a slip (at most a third of its length). */
function nearest(key: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const d = editDistance(key.toLowerCase(), n.toLowerCase());
    if (d < bestD) [best, bestD] = [n, d];
  }
  return bestD <= Math.max(2, Math.ceil(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
