#!/usr/bin/env node
/**
 * The `byway` command.
 *
 *   byway run [--driver D] [--address A] [--gateway G] [--netns N] [--path RULES] [--profile P] [--poll M]
 *             [--config FILE] [--no-control] [--no-heap-flag] [--workers N [--restart]] -- node app.js ...
 *   byway stat PID [--interval S] [--count N] [--all] [--json]
 *   byway ss PID [--json]
 *   byway capture PID -w FILE [--count N] [--seconds S]
 *   byway ping HOST [-c N] [--driver ...] [--address ...] [--netns ...] [--gateway ...]
 *   byway doctor [--driver D] [--address A] [--netns N]
 *
 * Options given as flags set the BYWAY_* variable of the same name (register/config.ts), so `run`, `ping` and
 * `doctor` read the environment and the flags alike. Exit codes: 0 done, 1 failed, 2 bad usage or configuration.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { configFromEnv, firstIpv4Address, parseAddresses, parseDriverSpec, type EnvConfig } from '../register/config.js';
import { formatDriverSpec, openDriver } from '../register/open-driver.js';
import { ProcessCluster } from '../cluster/processes.js';
import { openAfXdpProgram } from '../../drivers/af-xdp/index.js';
import { localMac } from '../../drivers/native/ring-driver.js';
import { randomBytes } from 'node:crypto';
import { startControlServerWith, type ControlServer } from '../control/server.js';
import { controlPath, runtimeDir } from '../control/paths.js';
import { createStack } from '../api/stack.js';
import { query, captureTo } from '../control/client.js';
import { formatSs, formatStat } from './format.js';
import { doctor } from './doctor.js';
import { withHeapFlag } from './heap-flag.js';

const USAGE = `usage:
  byway run [--driver D] [--address A] [--gateway G] [--netns N] [--path RULES] [--profile P] [--poll M]
            [--config FILE] [--no-control] [--no-heap-flag] [--workers N [--restart]] -- COMMAND [ARGS...]
  byway stat PID [--interval SECONDS] [--count N] [--all] [--json]
  byway ss PID [--json]
  byway capture PID -w FILE [--count N] [--seconds S]
  byway ping HOST [-c COUNT] [--driver D] [--address A] [--netns N] [--gateway G]
  byway doctor [--driver D] [--address A] [--netns N]
drivers: tap:NAME, af-packet:IFNAME, af-xdp:IFNAME[:shared[:ipv6]], raw-ip[:IFNAME]
  (af-xdp:IFNAME:shared:ipv6 shares the interface's IPv6 addresses with the kernel too)
address: with its prefix length, IPv4 or IPv6, comma-separated: 10.0.0.2/24,fd00::2/64; gateway: 10.0.0.1,fe80::1
path rules: e.g. tcp:5432=bypass,udp:53=kernel,10.20.0.0/16=bypass,default=kernel`;

class UsageError extends Error {}

const FLAG_VARS: Record<string, string> = {
  '--driver': 'BYWAY_DRIVER',
  '--address': 'BYWAY_ADDRESS',
  '--gateway': 'BYWAY_GATEWAY',
  '--netns': 'BYWAY_NETNS',
  '--path': 'BYWAY_PATH',
  '--profile': 'BYWAY_PROFILE',
  '--poll': 'BYWAY_POLL',
  '--config': 'BYWAY_CONFIG',
};

interface Parsed {
  env: Record<string, string | undefined>;
  positional: string[];
  flags: Map<string, string | true>;
  rest: string[];
}

/** Flags with a value (`--x v` or `--x=v`), boolean flags, positionals, and everything after `--`. */
function parse(args: readonly string[], valued: readonly string[], booleans: readonly string[]): Parsed {
  const env: Record<string, string | undefined> = { ...process.env };
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    const [name, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (FLAG_VARS[name] !== undefined || valued.includes(name)) {
      const v = inline ?? args[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      if (FLAG_VARS[name] !== undefined) env[FLAG_VARS[name]!] = v;
      else flags.set(name, v);
    } else if (booleans.includes(name)) flags.set(name, true);
    else if (a.startsWith('-') && a.length > 1) throw new UsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  return { env, positional, flags, rest: args.slice(i) };
}

function pidArg(p: Parsed): number {
  const pid = Number(p.positional[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new UsageError('give the PID of a process running under byway');
  return pid;
}

function numFlag(p: Parsed, name: string, min: number): number | undefined {
  const v = p.flags.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(Number.isFinite(n) && n >= min)) throw new UsageError(`${name} must be a number >= ${min}, got '${String(v)}'`);
  return n;
}

/** The preload as `node --import` takes it, and what makes it loadable when byway runs from its TypeScript source. */
function preloadImports(): string[] {
  const self = import.meta.url;
  if (self.endsWith('.ts')) return [import.meta.resolve('tsx'), new URL('../register/preload.ts', self).href];
  return [new URL('../register/preload.js', self).href];
}

async function run(p: Parsed): Promise<number> {
  if (p.rest.length === 0) throw new UsageError('byway run needs a command after --');
  if (p.flags.has('--no-control')) p.env['BYWAY_CONTROL'] = 'off';
  if (p.flags.has('--no-heap-flag')) p.env['BYWAY_HEAP'] = 'off';
  const config = configFromEnv(p.env); // fail here, before starting the program, on a bad configuration
  const imports = preloadImports().map((u) => `--import=${u}`);
  const added = imports.join(' ');
  const nodeOptions = [p.env['NODE_OPTIONS'], added].filter((x) => x).join(' ');
  // BYWAY_PRELOAD tells the preload what to take out of NODE_OPTIONS again, so that the program's own child
  // processes do not open a second stack on the same address (they run on the kernel path).
  const env = { ...p.env, NODE_OPTIONS: nodeOptions, BYWAY_PRELOAD: added };
  if (p.flags.has('--workers')) return runWorkers(p, config, env);
  if (p.flags.has('--restart')) throw new UsageError('--restart goes with --workers');
  const child = spawn(p.rest[0]!, withHeapFlag(p.rest[0]!, p.rest.slice(1), env, process.execPath), { stdio: 'inherit', env });
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward(sig));
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`byway run: cannot start ${p.rest[0]}: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + (signalNumber(signal) ?? 1) : 1)));
  });
}

/**
 * `byway run --workers N`: the program in N processes on one AF_PACKET fanout group, or one AF_XDP receive queue
 * each under an XDP program this process holds (src/cluster/processes.ts).
 * This process supervises them; its control socket answers `byway stat`/`byway ss` for all of them (each worker
 * keeps its own, by its pid). BYWAY_CONTROL=PATH names the supervisor's socket; the workers then take the default.
 */
async function runWorkers(p: Parsed, config: EnvConfig, env: Record<string, string | undefined>): Promise<number> {
  const n = Number(p.flags.get('--workers'));
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--workers must be an integer from 1 to 64, got '${String(p.flags.get('--workers'))}'`);
  const xdp = config.driver.kind === 'af-xdp';
  const shared = xdp && config.driver.shared === true;
  const tap = config.driver.kind === 'tap';
  if (config.driver.kind !== 'af-packet' && !xdp && !tap) {
    throw new UsageError(
      `--workers needs --driver af-packet:IFNAME (the workers share an AF_PACKET fanout group), af-xdp:IFNAME[:shared[:ipv6]] (one receive queue each) or tap:NAME (a multi-queue TAP device, one queue each); the cluster does not use ${formatDriverSpec(config.driver)} yet`,
    );
  }
  // TAP: one MAC for every worker's queue (the kernel's side sees one neighbour).
  const tapHwAddress = tap ? [...localMac(randomBytes(6))].map((b) => b.toString(16).padStart(2, '0')).join(':') : undefined;
  // AF_XDP: this process attaches the program and holds its XSKMAP, which each worker inherits (processes.ts); in
  // shared-address mode also its flow map, which the workers edit and this process tidies after a worker's end.
  const address = firstIpv4Address(config.stack.address);
  const program = xdp
    ? openAfXdpProgram({ ifname: config.driver.ifname!, netns: config.netns, mode: shared ? 'shared' : 'own', ipv4: shared ? undefined : address?.split('/')[0], ipv6: config.driver.ipv6 ? true : undefined, queues: n })
    : undefined;
  const flowMap =
    shared && program
      ? {
          fd: program.flowMapFd,
          dropHolder: (index: number, u: (owner: number, fd: number) => void) => program.dropHolder(undefined, index, { netns: config.netns, unreserve: u }),
          finishOrphan: (protocol: number, port: number, addr: number, u: (owner: number, fd: number) => void) => program.finishOrphan(protocol, port, addr, u),
          unboundDrops: () => program.unboundDrops(),
          adopt: (protocol: number, port: number, addr: number, pidOf: (owner: number) => number | undefined, u: (owner: number, fd: number) => void) =>
            program.adoptReservation(protocol, port, addr, pidOf, u),
        }
      : undefined;
  // Tests only: hold a dead worker's flows until the file BYWAY_TEST_HOLD_DROP names exists (at most 30 s), so a
  // test can try the kernel in the window between a worker's end and the drop of its holds.
  const gate = env['BYWAY_TEST_HOLD_DROP'];
  const beforeDrop =
    flowMap && gate
      ? async (index: number): Promise<void> => {
          process.stderr.write(`byway run: holding worker ${index}'s flows until ${gate} exists (BYWAY_TEST_HOLD_DROP)\n`);
          for (let end = Date.now() + 30_000; !existsSync(gate) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
        }
      : undefined;
  const own = config.control;
  if (own !== undefined && own !== '') delete env['BYWAY_CONTROL'];
  const cluster = new ProcessCluster({
    workers: n,
    command: p.rest[0]!,
    args: withHeapFlag(p.rest[0]!, p.rest.slice(1), env, process.execPath),
    env,
    link: join(runtimeDir(p.env), `run-${process.pid}.link`),
    restart: p.flags.has('--restart'),
    xskMapFd: program?.xskMapFd,
    tapHwAddress,
    flowMap,
    beforeDrop,
    log: (l) => process.stderr.write(l + '\n'),
  });
  const forward = (sig: NodeJS.Signals) => () => cluster.close(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward(sig));
  try {
    await cluster.start();
  } catch (err) {
    process.stderr.write(`byway run: ${(err as Error).message}; ending the workers\n`);
    cluster.close();
    const status = await cluster.done;
    program?.close();
    return status === 0 ? 1 : status;
  }
  let control: ControlServer | undefined;
  if (own !== undefined) {
    try {
      control = startControlServerWith(own === '' ? controlPath(process.pid, p.env) : own, {
        stat: () => cluster.stat(),
        ss: () => cluster.ss(),
        capture: () => {
          throw new Error(`capture one worker: byway capture PID with a worker's pid (${cluster.workers.map((w) => w.pid).join(', ')})`);
        },
      });
    } catch (err) {
      process.stderr.write(`byway run: no control socket (${(err as Error).message})\n`);
    }
  }
  process.stderr.write(
    `byway run: pid ${process.pid} ${n} workers on ${formatDriverSpec(config.driver)} ${program ? `queues 0-${n - 1} (${program.attachMode} XDP)` : tap ? `queues 0-${n - 1} (multi-queue TAP)` : `fanout group ${cluster.group}`}: ` +
      `${cluster.workers.map((w) => `worker ${w.index} pid ${w.pid}`).join(', ')}${control ? ` control ${control.path}` : ' control off'}\n`,
  );
  const status = await cluster.done;
  control?.close();
  program?.close();
  return status;
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[sig];
}

async function stat(p: Parsed): Promise<number> {
  const pid = pidArg(p);
  const interval = numFlag(p, '--interval', 0.1);
  const count = numFlag(p, '--count', 1);
  const json = p.flags.has('--json');
  let previous = await query(pid, { cmd: 'stat' });
  if (interval === undefined) {
    process.stdout.write(json ? JSON.stringify(previous) + '\n' : formatStat(previous, { all: p.flags.has('--all') }));
    return 0;
  }
  process.stdout.write(json ? JSON.stringify(previous) + '\n' : formatStat(previous, { all: p.flags.has('--all') }));
  for (let i = 0; count === undefined || i < count; i++) {
    await new Promise((r) => setTimeout(r, interval * 1000));
    const sample = await query(pid, { cmd: 'stat' });
    process.stdout.write(json ? JSON.stringify(sample) + '\n' : formatStat(sample, { previous }));
    previous = sample;
  }
  return 0;
}

async function ss(p: Parsed): Promise<number> {
  const answer = await query(pidArg(p), { cmd: 'ss' });
  process.stdout.write(p.flags.has('--json') ? JSON.stringify(answer) + '\n' : formatSs(answer));
  return 0;
}

async function capture(p: Parsed): Promise<number> {
  const pid = pidArg(p);
  const file = p.flags.get('-w');
  if (typeof file !== 'string') throw new UsageError('byway capture needs -w FILE');
  const count = numFlag(p, '--count', 1);
  const seconds = numFlag(p, '--seconds', 0.001);
  const out = createWriteStream(file);
  const started = Date.now();
  let total = 0;
  const progress = setInterval(() => process.stderr.write(`byway capture: ${total} bytes after ${((Date.now() - started) / 1000).toFixed(0)} s\n`), 1000);
  try {
    total = await captureTo(pid, { count, seconds }, out, (b) => (total = b), undefined, () =>
      process.stderr.write(`byway capture: capturing in pid ${pid}${count ? `, ${count} frames` : ''}${seconds ? `, ${seconds} s` : ''} (Ctrl-C stops)\n`),
    );
  } finally {
    clearInterval(progress);
    await new Promise<void>((r) => out.end(r));
  }
  process.stderr.write(`byway capture: wrote ${total} bytes of pcap to ${file}\n`);
  return 0;
}

async function ping(p: Parsed): Promise<number> {
  const host = p.positional[0];
  if (host === undefined) throw new UsageError('byway ping needs a host (an IPv4 address or a name)');
  const count = numFlag(p, '-c', 1) ?? 4;
  const cfg = configFromEnv({ ...p.env, BYWAY_CONTROL: 'off' });
  const driver = openDriver(cfg.driver, { netns: cfg.netns, address: firstIpv4Address(cfg.stack.address), tuning: cfg.driverTuning });
  const stack = createStack({ ...cfg.stack, driver });
  let received = 0;
  try {
    process.stdout.write(`PING ${host} from ${stack.addresses.join(',')} over byway\n`);
    for (let seq = 1; seq <= count; seq++) {
      try {
        const r = await stack.ping(host, { timeoutMs: 2000 });
        received++;
        process.stdout.write(`${r.bytes} bytes from ${r.from}: icmp_seq=${seq} ttl=${r.ttl} time=${r.rttMs.toFixed(3)} ms\n`);
      } catch (err) {
        process.stdout.write(`icmp_seq=${seq}: ${(err as Error).message}\n`);
      }
      if (seq < count) await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    stack.close();
  }
  process.stdout.write(`${count} packets transmitted, ${received} received\n`);
  return received > 0 ? 0 : 1;
}

async function doctorCmd(p: Parsed): Promise<number> {
  const d = p.env['BYWAY_DRIVER'];
  if (d === undefined || d === '') throw new UsageError('byway doctor needs --driver (or BYWAY_DRIVER)');
  const address = p.env['BYWAY_ADDRESS'] ? firstIpv4Address(parseAddresses(p.env['BYWAY_ADDRESS'])) : undefined;
  const netns = p.env['BYWAY_NETNS'] || undefined;
  const fixes = await doctor(
    { driver: parseDriverSpec(d), netns, address },
    { print: (l) => process.stdout.write(l + '\n'), progress: (l) => process.stderr.write(l + '\n') },
  );
  process.stdout.write(fixes === 0 ? 'byway doctor: nothing to fix\n' : `byway doctor: ${fixes} thing(s) to fix\n`);
  return fixes === 0 ? 0 : 1;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...args] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await run(parse(args, ['--workers'], ['--no-control', '--no-heap-flag', '--restart']));
      case 'stat':
        return await stat(parse(args, ['--interval', '--count'], ['--all', '--json']));
      case 'ss':
        return await ss(parse(args, [], ['--json']));
      case 'capture':
        return await capture(parse(args, ['-w', '--count', '--seconds'], []));
      case 'ping':
        return await ping(parse(args, ['-c'], []));
      case 'doctor':
        return await doctorCmd(parse(args, [], []));
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE + '\n');
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`byway: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    const e = err as Error & { code?: string };
    process.stderr.write(`byway ${cmd}: ${e.message}\n`);
    return e.code === 'ERR_INVALID_ARG_VALUE' ? 2 : 1;
  }
}

const invoked = process.argv[1] === undefined ? undefined : (() => {
  try {
    return realpathSync(process.argv[1]!);
  } catch {
    return undefined;
  }
})();
if (invoked !== undefined && fileURLToPath(import.meta.url) === invoked) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
