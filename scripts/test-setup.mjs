#!/usr/bin/env node
/**
 * What the test suite needs from the machine, installed before `npm test` runs vitest.
 *
 * The tests that cross a real kernel drive real tools (tshark, socat, nginx, hping3, nmap...). On a fresh Debian
 * machine, as root, this installs the missing ones with apt-get, so the README's one test command passes there.
 * Without root (or without apt-get) it installs nothing and says what is missing: the tests that need a missing
 * tool skip with their reason, except under BYWAY_REQUIRE_PRIVILEGED=1 (CI), where a skip is a failure.
 * BYWAY_NO_INSTALL=1 turns installing off.
 *
 *   node scripts/test-setup.mjs [--check]     (--check: say what is missing, install nothing)
 */
import { spawnSync } from 'node:child_process';

/** command -> Debian package. The one list: .ci/run and `npm test` both come through here. */
export const TEST_TOOLS = {
  tshark: 'tshark',
  ip: 'iproute2',
  ss: 'iproute2',
  socat: 'socat',
  nc: 'netcat-openbsd',
  curl: 'curl',
  ethtool: 'ethtool',
  nginx: 'nginx-light',
  nft: 'nftables',
  ping: 'iputils-ping',
  hping3: 'hping3',
  nmap: 'nmap',
  dig: 'bind9-dnsutils',
  nstat: 'iproute2',
  openssl: 'openssl',
  'redis-server': 'redis-server',
  pg_ctlcluster: 'postgresql',
  runuser: 'util-linux',
};

const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

function missingPackages() {
  const pkgs = new Set();
  for (const [cmd, pkg] of Object.entries(TEST_TOOLS)) if (!have(cmd)) pkgs.add(pkg);
  return [...pkgs];
}

const missing = missingPackages();
if (missing.length === 0) process.exit(0);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const canInstall = isRoot && have('apt-get') && process.env.BYWAY_NO_INSTALL !== '1' && !process.argv.includes('--check');
if (!canInstall) {
  const why = process.argv.includes('--check') ? '--check' : process.env.BYWAY_NO_INSTALL === '1' ? 'BYWAY_NO_INSTALL=1' : isRoot ? 'no apt-get' : 'not root';
  console.error(`test-setup: missing Debian packages: ${missing.join(' ')} (not installed: ${why}); the tests that need them will skip and say why`);
  process.exit(0);
}
console.error(`test-setup: installing ${missing.join(' ')} (apt-get)`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const step = (args) => {
  const r = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 15 * 60_000 });
  if (r.status !== 0) {
    console.error(`test-setup: apt-get ${args.join(' ')} failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
    process.exit(1);
  }
};
step(['update', '-qq']);
step(['install', '-y', '-qq', '--no-install-recommends', ...missing]);
const still = missingPackages();
if (still.length) {
  console.error(`test-setup: still missing after install: ${still.join(' ')}`);
  process.exit(1);
}
