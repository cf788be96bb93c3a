/**
 * The preload: `node --import byway/register app.js` (what `byway run` sets up). Configured from the environment
 * (config.ts), it opens the driver, creates one stack, patches node:net, node:tls, node:http and node:dgram for
 * the whole process (patch.ts), says so on stderr when the program starts a worker thread (workers.ts: those run
 * unpatched), opens the control socket (unless BYWAY_CONTROL=off) and writes one line on stderr
 * saying what it got. In a worker process of `byway run --workers N` (BYWAY_WORKER set, member.ts) the driver is
 * a member of the supervisor's AF_PACKET fanout group (or, BYWAY_XSKMAP, an AF_XDP socket on its queue) and the stack takes the worker's ephemeral slice. A configuration it cannot use, or a driver it cannot open, ends the process with exit code
 * 1 and one line naming the reason: the program never runs on a path it did not ask for.
 */
import { createStack, type Stack } from '../api/stack.js';
import { compileStrategy } from '../api/path.js';
import { configFromEnv, firstIpv4Address, formatPathRules, type EnvConfig } from './config.js';
import { openDriver, formatDriverSpec } from './open-driver.js';
import { installPatches, type Patches } from './patch.js';
import { warnOnWorkers } from './workers.js';
import { COOKIE_ENV } from '../cluster/cookies.js';
import { memberFanout, memberFromEnv, memberStackOptions, openMember } from './member.js';
import type { AfPacketDriver } from '../../drivers/af-packet/index.js';
import { newPathCounters, type PathCounters } from './counters.js';
import { captureTap } from '../control/capture.js';
import { startControlServer, type ControlServer } from '../control/server.js';
import { controlPath } from '../control/paths.js';

export interface Registered {
  readonly config: EnvConfig;
  readonly stack: Stack;
  readonly counters: PathCounters;
  readonly patches: Patches;
  readonly control: ControlServer | undefined;
  /** Undo the patches, close the control socket and the stack. */
  close(): void;
}

/**
 * Resolves once the stack's IPv6 addresses have passed duplicate address detection (stack.ready()), or after
 * `ms`, saying so through `log` (the program then starts with its tentative addresses, which are no source yet).
 */
export function whenAddressesUsable(stack: Stack, ms: number, log: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      log(`byway: duplicate address detection not finished after ${ms / 1000} s (${stack.addresses.join(',')}); starting the program`);
      resolve();
    }, ms);
    void stack.ready().then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Everything the preload does, callable (tests use it with their own environment). Throws on any problem. */
export function register(env: Readonly<Record<string, string | undefined>> = process.env, log: (line: string) => void = (l) => process.stderr.write(l + '\n')): Registered {
  const config = configFromEnv(env);
  const memberConfig = memberFromEnv(env);
  // The cluster's cookie secret is the stack's alone: the program's children do not inherit it (cluster/cookies.ts).
  if (env === process.env) delete process.env[COOKIE_ENV];
  // Shared-address AF_XDP: the flow map's orphans and shared reservations go to the supervisor through the member
  // (made just below).
  let member: ReturnType<typeof openMember> | undefined;
  const sharedFlows =
    memberConfig?.flowMapFd !== undefined
      ? {
          flowMapFd: memberConfig.flowMapFd,
          holder: memberConfig.index,
          orphaned: (protocol: number, port: number, address: number) => member?.orphaned(protocol, port, address),
          shared: (protocol: number, port: number, address: number) => member?.shared(protocol, port, address),
        }
      : undefined;
  const xdp = memberConfig?.xskMapFd !== undefined ? { queue: memberConfig.index, queues: memberConfig.workers, xskMapFd: memberConfig.xskMapFd, sharedFlows } : undefined;
  const tapQueue = memberConfig?.tapHwAddress !== undefined ? { hwAddress: memberConfig.tapHwAddress } : undefined;
  const fanout = memberConfig && !xdp && !tapQueue ? memberFanout(memberConfig) : undefined;
  const driver = openDriver(config.driver, { netns: config.netns, address: firstIpv4Address(config.stack.address), tuning: config.driverTuning, fanout, xdp, tapQueue });
  member = memberConfig ? openMember(memberConfig, driver as AfPacketDriver, log) : undefined;
  const tap = captureTap(member?.driver ?? driver, () => performance.timeOrigin);
  let stack: Stack;
  try {
    stack = createStack({ ...config.stack, ...(memberConfig ? memberStackOptions(memberConfig, config.stack) : {}), driver: tap.driver });
  } catch (err) {
    driver.close();
    throw err;
  }
  const counters = newPathCounters();
  const patches = installPatches(stack, compileStrategy(config.rules), counters, (what) => log(`byway: bypass flow failed: ${what}`), () => member?.serving());
  const workers = warnOnWorkers(log);
  let control: ControlServer | undefined;
  if (config.control !== undefined) {
    const path = config.control === '' ? controlPath(process.pid, env) : config.control;
    try {
      control = startControlServer(path, {
        stack,
        capture: tap,
        listeners: () => patches.bypassListeners(),
        info: () => ({
          spec: formatDriverSpec(config.driver),
          netns: config.netns,
          profile: config.profile,
          pollMode: config.stack.pollMode ?? 'event',
          addresses: stack.addresses,
          rules: formatPathRules(config.rules),
          paths: counters,
          // A fanout worker's stray relay (src/cluster/strays.ts): sent, received, final, limited, split, oversize;
          // and its half-open connections' table (HalfOpens): listed, learned, diverted.
          ...(member ? { strayRelay: member.strays, ...(member.halfOpens ? { halfOpens: member.halfOpens } : {}) } : {}),
        }),
      });
    } catch (err) {
      log(`byway: no control socket (${(err as Error).message}); byway stat/ss/capture will not reach this process`);
    }
  }
  member?.start(stack, control?.path ?? null);
  const caps = driver.caps;
  log(
    `byway: pid ${process.pid} driver ${formatDriverSpec(config.driver)}${config.netns ? ` (netns ${config.netns})` : ''} ` +
      `mode ${config.driver.shared ? 'shared' : 'own'}${caps.tso ? '+tso' : ''} poll ${config.stack.pollMode ?? 'event'} ` +
      `profile ${config.profile} address ${stack.addresses.join(',')} mtu ${caps.mtu} path ${formatPathRules(config.rules)}` +
      `${control ? ` control ${control.path}` : ' control off'}` +
      `${memberConfig ? ` worker ${memberConfig.index}/${memberConfig.workers} ${xdp ? `queue ${xdp.queue}` : `fanout group ${memberConfig.group}`}` : ''}`,
  );
  return {
    config,
    stack,
    counters,
    patches,
    control,
    close() {
      patches.uninstall();
      workers.uninstall();
      control?.close();
      member?.close();
      stack.close();
    },
  };
}
