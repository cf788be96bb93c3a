/**
 * What a script's shell lines and socket options select, as byway TCP options (TcpOptions, the same object as
 * `createStack({ limits: { tcp } })`). `defaults.sh` selects `profile: 'linux'` with the buffer sizes defaults.sh
 * sets; `sysctl` lines map to the option with the same meaning; a command byway has no counterpart for makes the
 * script unsupported (it fails, saying which command) rather than being silently ignored. Knobs that only tune
 * Linux's TSO deferral or offloads (byway does not defer) are accepted and have no effect.
 *
 * byway's buffers are options of the stack, not of one socket: a script's SO_SNDBUF / SO_RCVBUF values (wherever
 * they appear) become the stack's sendBuffer / receiveBuffer, doubled as Linux doubles them, and fixed (the
 * maximum is the same), as setting them locks Linux's auto-tuning.
 */
import type { LossDetection, TcpOptions } from '../../protocols/tcp/options.js';
import { newReno, cubic } from '../../protocols/tcp/cc/index.js';
import type { Script } from './parse.js';

export interface ScriptSettings {
  readonly tcp: Partial<Omit<TcpOptions, 'rng'>>;
  readonly soRcvbuf: number | undefined;
  readonly soSndbuf: number | undefined;
  /** Reasons the script cannot run (found before it starts). */
  readonly unsupported: string[];
  /**
   * A shell command met while the script runs: undefined (nothing to do), 'blackhole' / 'unblock' (outbound packets
   * are dropped from now on / again delivered), or a string naming what is not supported.
   */
  shell(command: string): undefined | 'blackhole' | 'unblock' | string;
}

const MiB = 1024 * 1024;

/**
 * defaults.sh: tcp_rmem = 4096 540000 15 MiB, tcp_wmem = 4096 256 KiB 4 MiB, tcp_slow_start_after_idle = 0
 * (upstream/ in the scripts' folder).
 */
const DEFAULTS_SH: Partial<TcpOptions> = {
  profile: 'linux',
  receiveBuffer: 540000,
  maxReceiveBuffer: 15 * MiB,
  sendBuffer: 256 * 1024,
  maxSendBuffer: 4 * MiB,
  slowStartAfterIdle: false,
  pushBursts: true,
};
/**
 * The 2013 scripts ran without defaults.sh on a machine whose largest receive buffer gave window scale 6, on Linux
 * 3.11, which set PSH only at the end of a write (the PSH on every GSO packet came with 4.x).
 */
const LINUX_2013: Partial<TcpOptions> = { profile: 'linux', maxReceiveBuffer: 3 * MiB, pushBursts: false };

/** Split a shell block into commands (newlines, `;`, backslash continuations). */
function commands(block: string): string[] {
  return block
    .replace(/\\\n/g, ' ')
    .split(/[\n;]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0 && !s.startsWith('#'));
}

/** `name=value` pairs a sysctl or set_sysctls.py command sets, or undefined when it is not one. */
function sysctls(cmd: string): Array<[string, string]> | undefined {
  let m = /^sysctl\s+(?:-q\s+)?net\.ipv4\.(\w+)=(.*)$/.exec(cmd);
  if (m) return [[m[1]!, m[2]!.replace(/^"|"$/g, '')]];
  m = /^\S*set_sysctls\.py\s+(.*)$/.exec(cmd);
  if (m) {
    const out: Array<[string, string]> = [];
    for (const a of m[1]!.split(/\s+/)) {
      const k = /^\/proc\/sys\/net\/ipv4\/(\w+)=(.*)$/.exec(a);
      if (!k) return undefined;
      out.push([k[1]!, k[2]!]);
    }
    return out;
  }
  return undefined;
}

function evalShellNumber(s: string): number {
  const m = /^\$\(\((\d+)\*(\d+)\*(\d+)\)\)$/.exec(s);
  return m ? Number(m[1]) * Number(m[2]) * Number(m[3]) : Number(s);
}

/** Apply one sysctl to options; returns a reason when byway has no counterpart. */
function applySysctl(tcp: Partial<TcpOptions>, name: string, value: string): string | undefined {
  switch (name) {
    case 'tcp_tso_win_divisor':
      return undefined; // Linux TSO deferral: byway does not defer, nothing to turn
    case 'tcp_min_tso_segs': {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) return `tcp_min_tso_segs=${value}`;
      tcp.minTsoSegs = n; // the size of the packets PSH ends (push.ts)
      return undefined;
    }
    case 'tcp_early_retrans': {
      // 3 and 4 (RACK/TLP, Linux's default) are byway's default; 0-2 select Linux 3.x's loss detection.
      const modes: Record<string, LossDetection> = { 0: 'dupthresh', 1: 'early-retransmit', 2: 'early-retransmit-delayed', 3: 'rack-tlp', 4: 'rack-tlp' };
      const mode = Object.hasOwn(modes, value) ? modes[value] : undefined;
      if (mode === undefined) return `sysctl tcp_early_retrans=${value}`;
      tcp.lossDetection = mode;
      return undefined;
    }
    case 'tcp_congestion_control':
      if (value === 'reno') tcp.congestionControl = newReno;
      else if (value === 'cubic') tcp.congestionControl = cubic;
      else return `congestion control ${value}`;
      return undefined;
    case 'tcp_slow_start_after_idle':
      tcp.slowStartAfterIdle = value !== '0';
      return undefined;
    case 'tcp_timestamps':
      tcp.timestamps = value !== '0';
      return undefined;
    case 'tcp_rmem': {
      const [, dflt, max] = value.trim().split(/\s+/).map(evalShellNumber);
      if (!Number.isFinite(dflt) || !Number.isFinite(max)) return `tcp_rmem=${value}`;
      tcp.receiveBuffer = Math.min(dflt!, max!);
      tcp.maxReceiveBuffer = max!;
      return undefined;
    }
    default:
      return `sysctl ${name}=${value}`;
  }
}

/**
 * A tcp_cubic module parameter (`echo N > /sys/module/tcp_cubic/parameters/NAME`) as the TCP option `hystart`
 * (Linux's CUBIC HyStart: hystart 0/1, hystart_detect 1 ack train / 2 delay / 3 both, hystart_low_window,
 * hystart_ack_delta_us); returns a reason when byway has no counterpart.
 */
function applyCubicParameter(tcp: Partial<TcpOptions>, name: string, n: number): string | undefined {
  const h = { variant: 'linux' as const, ...tcp.hystart };
  const detect = ({ 1: 'ack-train', 2: 'delay', 3: 'both' } as const)[n as 1 | 2 | 3];
  if (name === 'hystart' && (n === 0 || n === 1)) h.variant = n === 1 ? 'linux' : 'off';
  else if (name === 'hystart_detect' && detect !== undefined) h.detect = detect;
  else if (name === 'hystart_low_window') h.lowWindow = n;
  else if (name === 'hystart_ack_delta_us') h.ackDeltaMs = n / 1000;
  else return `tcp_cubic parameter ${name}=${n}`;
  tcp.hystart = h;
  return undefined;
}

export function settingsFor(script: Script): ScriptSettings {
  const tcp: Partial<TcpOptions> = { ...LINUX_2013 };
  const unsupported: string[] = [];
  let soRcvbuf: number | undefined;
  let soSndbuf: number | undefined;
  let started = false;
  for (const ev of script.events) {
    const a = ev.action;
    if (a.type === 'call' && a.name === 'setsockopt' && a.args[1]?.kind === 'sym' && a.args[2]?.kind === 'sym') {
      const v = a.args[3];
      const n = v?.kind === 'list' && v.items[0]?.kind === 'num' ? v.items[0].value : undefined;
      const name = a.args[2].names[0];
      // One size per stack: a second, different size (on a connection) cannot be honoured, so it is not run.
      if (name === 'SO_RCVBUF' || name === 'SO_SNDBUF') {
        const before = name === 'SO_RCVBUF' ? soRcvbuf : soSndbuf;
        if (before !== undefined && before !== n) unsupported.push(`${name} set to ${before} and then ${n} (byway's buffer sizes are per stack)`);
        else if (name === 'SO_RCVBUF') soRcvbuf = n;
        else soSndbuf = n;
      }
    }
    // Shell lines before the first packet or socket call set up the machine the script runs on.
    if (a.type !== 'shell') {
      if (a.type === 'call' && (a.name === 'socket' || a.name === 'setsockopt' || a.name === 'bind')) continue;
      started = true;
      continue;
    }
    if (started) continue;
    for (const cmd of commands(a.command)) {
      if (/^(\.\.?\/)+(common\/)?defaults\.sh$/.test(cmd)) {
        Object.assign(tcp, DEFAULTS_SH);
        continue;
      }
      const s = sysctls(cmd);
      if (s) {
        for (const [k, v] of s) {
          const why = applySysctl(tcp, k, v);
          if (why) unsupported.push(why);
        }
        continue;
      }
      const m = /^echo\s+(\d+)\s*>\s*\/sys\/module\/tcp_cubic\/parameters\/(\w+)$/.exec(cmd);
      if (m) {
        const why = applyCubicParameter(tcp, m[2]!, Number(m[1]));
        if (why) unsupported.push(why);
        continue;
      }
      const r = runtimeCommand(cmd);
      if (typeof r === 'string') unsupported.push(r);
    }
  }
  if (soRcvbuf !== undefined) {
    tcp.receiveBuffer = 2 * soRcvbuf;
    tcp.maxReceiveBuffer = 2 * soRcvbuf;
  }
  if (soSndbuf !== undefined) {
    tcp.sendBuffer = 2 * soSndbuf;
    tcp.maxSendBuffer = 2 * soSndbuf;
  }
  return {
    tcp,
    soRcvbuf,
    soSndbuf,
    unsupported,
    shell(block) {
      let result: ReturnType<ScriptSettings['shell']>;
      for (const cmd of commands(block)) {
        const s = sysctls(cmd);
        if (s) {
          // Once the stack runs, only a return to the profile's own value is allowed (the scripts' restore lines).
          for (const [k, v] of s) {
            const restore = (k === 'tcp_early_retrans' && v === '3') || (k === 'tcp_congestion_control' && v === 'cubic') || k === 'tcp_rmem';
            if (!restore) return `sysctl ${k}=${v} while connections run`;
          }
          continue;
        }
        const r = runtimeCommand(cmd);
        if (r !== undefined) result = r;
      }
      return result;
    },
  };
}

/** Commands other than sysctls. */
function runtimeCommand(cmd: string): undefined | 'blackhole' | 'unblock' | string {
  if (/^\/tmp\/sysctl_restore_\$\{PPID\}\.sh$/.test(cmd)) return undefined;
  if (/^ethtool\s+-K\s+\S+(\s+(tso|gso|gro)\s+(on|off))+$/.test(cmd)) return undefined; // offloads: nothing to do
  if (/^nstat\s+-n$/.test(cmd)) return undefined;
  if (/^tc\s+qdisc\s+(replace|add)\s+dev\s+\S+\s+root\s+pfifo\s+limit\s+0$/.test(cmd)) return 'blackhole';
  if (/^tc\s+qdisc\s+(delete|del)\s+dev\s+\S+\s+root(\s+2>\/dev\/null)?$/.test(cmd)) return 'unblock';
  if (/^(\.\.?\/)+(common\/)?defaults\.sh$/.test(cmd)) return undefined;
  return cmd;
}
