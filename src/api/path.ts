/**
 * The per-flow path strategy: for each flow, 'kernel' (a genuine node:net / node:dgram socket) or 'bypass'
 * (byway's). The decision is visible as `socket.path` and never changes silently: when bypass was chosen and
 * cannot serve, the operation fails with an error saying why.
 *
 * A strategy is a decision, a function of the flow, or a declarative rule list (first match wins, by protocol,
 * port and CIDR), with a default.
 */
import { BywayError } from '../../protocols/util/errors.js';
import { cidrContains, parseCidr, parseIpv4, type Ipv4Cidr } from '../../protocols/ipv4/address.js';
import { ipv6CidrContains, mappedIpv4, parseIpv6Cidr, parseIpv6WithZone, type Ipv6Cidr } from '../../protocols/ipv6/address.js';

export type Path = 'kernel' | 'bypass';

export interface Flow {
  readonly protocol: 'tcp' | 'udp';
  /** 'inbound' for a server or a bound socket waiting for peers; 'outbound' for a connect or a send. */
  readonly direction: 'inbound' | 'outbound';
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

export interface PathRule {
  readonly path: Path;
  readonly protocol?: 'tcp' | 'udp';
  /** Matches the flow's local port for inbound flows and its remote port for outbound ones (or either, when listed in `anyPort`). */
  readonly port?: number | readonly number[];
  /**
   * Matches the remote address (outbound) or local address (inbound), e.g. '10.0.0.0/8' or 'fd00::/8'. An
   * IPv4-mapped address (::ffff:a.b.c.d) matches the IPv4 prefixes.
   */
  readonly cidr?: string | readonly string[];
  readonly direction?: 'inbound' | 'outbound';
}

export interface PathRules {
  readonly rules: readonly PathRule[];
  readonly default: Path;
}

export type PathStrategy = Path | ((flow: Flow) => Path) | PathRules;

export type PathDecider = (flow: Flow) => Path;

export function compileStrategy(strategy: PathStrategy | undefined): PathDecider {
  if (strategy === undefined) return () => 'bypass';
  if (strategy === 'kernel' || strategy === 'bypass') return () => strategy;
  if (typeof strategy === 'function') {
    return (flow) => checkPath(strategy(flow));
  }
  if (typeof strategy !== 'object' || strategy === null || !Array.isArray(strategy.rules)) {
    throw new BywayError('ERR_INVALID_ARG_VALUE', "a path strategy is 'kernel', 'bypass', a function, or { rules, default }");
  }
  const rules = strategy.rules.map(compileRule);
  const fallback = checkPath(strategy.default);
  return (flow) => {
    for (const r of rules) if (r.matches(flow)) return r.path;
    return fallback;
  };
}

function compileRule(rule: PathRule): { path: Path; matches: (f: Flow) => boolean } {
  const path = checkPath(rule.path);
  const ports = rule.port === undefined ? undefined : new Set(Array.isArray(rule.port) ? rule.port : [rule.port]);
  let cidrs: Ipv4Cidr[] | undefined;
  let cidrs6: Ipv6Cidr[] | undefined;
  if (rule.cidr !== undefined) {
    cidrs = [];
    cidrs6 = [];
    for (const c of (Array.isArray(rule.cidr) ? rule.cidr : [rule.cidr]) as string[]) {
      const six = typeof c === 'string' && c.includes(':') ? parseIpv6Cidr(c) : undefined;
      const four = six === undefined ? parseCidr(c) : undefined;
      if (six === undefined && four === undefined) throw new BywayError('ERR_INVALID_ARG_VALUE', `invalid CIDR '${c}' in a path rule`);
      if (six !== undefined) cidrs6.push(six);
      else cidrs.push(four!);
    }
  }
  return {
    path,
    matches(f) {
      if (rule.protocol !== undefined && rule.protocol !== f.protocol) return false;
      if (rule.direction !== undefined && rule.direction !== f.direction) return false;
      if (ports !== undefined) {
        const port = f.direction === 'inbound' ? f.localPort : f.remotePort;
        if (port === undefined || !ports.has(port)) return false;
      }
      if (cidrs !== undefined) {
        const addr = f.direction === 'inbound' ? (f.remoteAddress ?? f.localAddress) : f.remoteAddress;
        if (addr === undefined) return false;
        const ip6 = addr.includes(':') ? parseIpv6WithZone(addr)?.address : undefined;
        const ip = ip6 !== undefined ? mappedIpv4(ip6) : parseIpv4(addr);
        const hit = ip !== undefined ? cidrs.some((c) => cidrContains(c, ip)) : ip6 !== undefined && cidrs6!.some((c) => ipv6CidrContains(c, ip6));
        if (!hit) return false;
      }
      return true;
    },
  };
}

function checkPath(p: unknown): Path {
  if (p !== 'kernel' && p !== 'bypass') throw new BywayError('ERR_INVALID_ARG_VALUE', `a path is 'kernel' or 'bypass', got ${String(p)}`);
  return p;
}
