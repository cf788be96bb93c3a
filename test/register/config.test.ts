/** The preload's configuration from the environment: each variable parsed, and each mistake named. */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configFromEnv, firstIpv4Address, formatPathRules, parseDriverSpec, parsePathRules, PROFILES } from '../../src/register/config.js';
import { compileStrategy } from '../../src/api/path.js';
import { formatDriverSpec } from '../../src/register/open-driver.js';
import { createStack } from '../../src/api/stack.js';
import { memoryLink } from '../../drivers/memory/index.js';

const base = { BYWAY_DRIVER: 'af-packet:veth0', BYWAY_ADDRESS: '10.77.40.2/24' };
const fails = (env: Record<string, string>, message: RegExp): void => {
  expect(() => configFromEnv(env)).toThrowError(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(message) }));
};

describe('BYWAY_DRIVER', () => {
  it('takes each driver form', () => {
    expect(parseDriverSpec('tap:bw0')).toEqual({ kind: 'tap', ifname: 'bw0', shared: false });
    expect(parseDriverSpec('af-packet:eth0')).toEqual({ kind: 'af-packet', ifname: 'eth0', shared: false });
    expect(parseDriverSpec('af-xdp:eth1')).toEqual({ kind: 'af-xdp', ifname: 'eth1', shared: false });
    expect(parseDriverSpec('af-xdp:eth1:shared')).toEqual({ kind: 'af-xdp', ifname: 'eth1', shared: true });
    expect(parseDriverSpec('af-xdp:eth1:shared')).not.toHaveProperty('ipv6');
    expect(parseDriverSpec('af-xdp:eth1:shared:ipv6')).toEqual({ kind: 'af-xdp', ifname: 'eth1', shared: true, ipv6: true });
    expect(formatDriverSpec(parseDriverSpec('af-xdp:eth1:shared:ipv6'))).toBe('af-xdp:eth1:shared:ipv6');
    expect(parseDriverSpec('raw-ip')).toEqual({ kind: 'raw-ip', ifname: undefined, shared: false });
    expect(parseDriverSpec('raw-ip:eth0')).toEqual({ kind: 'raw-ip', ifname: 'eth0', shared: false });
  });
  it.each(['', 'tap', 'af-packet:', 'af-packet:a:b', 'af-xdp:eth0:own', 'af-xdp:eth0:ipv6', 'af-xdp:eth0:shared:v6', 'af-xdp:eth0:shared:ipv6:x', 'af-packet:eth0:ipv6', 'tun:x', 'af-packet:this-name-is-too-long', 'tap:a b'])(
    "rejects '%s', naming the variable and the forms",
    (v) => fails({ ...base, BYWAY_DRIVER: v || ' x' }, /^BYWAY_DRIVER: expected tap:NAME, af-packet:IFNAME, af-xdp:IFNAME, af-xdp:IFNAME:shared\[:ipv6\] or raw-ip/),
  );
  it('is required', () => fails({ BYWAY_ADDRESS: '10.0.0.1/24' }, /^BYWAY_DRIVER: expected the driver to open/));
});

describe('BYWAY_ADDRESS, BYWAY_GATEWAY, BYWAY_POLL, BYWAY_NETNS, BYWAY_CONTROL', () => {
  it('reads one address or a list, a gateway, a poll mode, a namespace', () => {
    const c = configFromEnv({ ...base, BYWAY_ADDRESS: '10.77.40.2/24, 10.77.41.2/24', BYWAY_GATEWAY: '10.77.40.1', BYWAY_POLL: 'busy', BYWAY_NETNS: 'bw-test' });
    expect(c.stack.address).toEqual(['10.77.40.2/24', '10.77.41.2/24']);
    expect(c.stack.gateway).toBe('10.77.40.1');
    expect(c.stack.pollMode).toBe('busy');
    expect(c.netns).toBe('bw-test');
    expect(c.control).toBe('');
  });
  it('rejects a bad value, naming the variable and what it wants', () => {
    fails({ ...base, BYWAY_ADDRESS: '10.0.0.1' }, /^BYWAY_ADDRESS: expected an address with its prefix length .*got '10.0.0.1'/);
    fails({ ...base, BYWAY_ADDRESS: '10.0.0.300/24' }, /^BYWAY_ADDRESS: .*got '10.0.0.300\/24'/);
    fails({ ...base, BYWAY_GATEWAY: 'router' }, /^BYWAY_GATEWAY: expected an IPv4 address .*got 'router'/);
    fails({ ...base, BYWAY_POLL: 'spin' }, /^BYWAY_POLL: expected 'event' or 'busy'; got 'spin'/);
    fails({ ...base, BYWAY_NETNS: '../etc' }, /^BYWAY_NETNS: expected the name of a network namespace/);
    fails({ ...base, BYWAY_CONTROL: 'relative.sock' }, /^BYWAY_CONTROL: expected 'off', 'on' or an absolute path/);
  });
  it('takes IPv6 addresses with their prefix length beside IPv4 ones, and an IPv6 gateway: the stack gets IPv6', async () => {
    const c = configFromEnv({ ...base, BYWAY_ADDRESS: 'fd00:77::2/64, 10.77.40.2/24', BYWAY_GATEWAY: '10.77.40.1,fe80::1%veth0' });
    expect(c.stack.address).toEqual(['fd00:77::2/64', '10.77.40.2/24']);
    expect(c.stack.gateway).toEqual(['10.77.40.1', 'fe80::1%veth0']);
    // The drivers that filter on byway's IPv4 address get the first IPv4 one, wherever it is in the list.
    expect([firstIpv4Address(c.stack.address), firstIpv4Address('fd00::2/64'), firstIpv4Address(undefined)]).toEqual(['10.77.40.2/24', undefined, undefined]);
    expect(configFromEnv({ ...base, BYWAY_ADDRESS: 'fd00::2/64', BYWAY_GATEWAY: 'fd00::1' }).stack.gateway).toBe('fd00::1');
    const [a, b] = memoryLink();
    const stack = createStack({ ...configFromEnv({ ...base, BYWAY_ADDRESS: '10.77.40.2/24,fd00:77::2/64', BYWAY_GATEWAY: '10.77.40.1,fe80::1%veth0' }).stack, driver: a, ipv6: { dad: { dupAddrDetectTransmits: 0 } } });
    try {
      await stack.ready();
      expect(stack.core.ipv6).toBeDefined();
      expect(stack.addresses).toEqual(expect.arrayContaining(['10.77.40.2/24', 'fd00:77::2/64']));
      // The IPv6 gateway became the IPv6 default route (the stack's table, read directly: no accessor exists).
      const routes = (stack.core.ipv6 as unknown as { routes: Array<{ destination: { prefixLen: number }; gateway?: Uint8Array }> }).routes;
      expect(routes.filter((r) => r.destination.prefixLen === 0).map((r) => Buffer.from(r.gateway ?? []).toString('hex'))).toEqual(['fe800000000000000000000000000001']);
    } finally {
      stack.close();
      b.close();
    }
  });
  it.each([
    ['fd00::2', /an address with its prefix length \('10.0.0.2\/24' or 'fd00::2\/64'\), or several separated by commas; got 'fd00::2'$/],
    ['fd00::2/129', /an IPv6 prefix length from 0 to 128; got 'fd00::2\/129'$/],
    ['fd00::2/064', /an IPv6 prefix length from 0 to 128/],
    ['fd00:::2/64', /an address with its prefix length .*got 'fd00:::2\/64'$/],
    ['fe80::2%eth0/64', /an IPv6 address without a zone/],
    ['::/0', /not unspecified; got '::\/0'$/],
    ['::1/128', /not loopback/],
    ['ff02::1/64', /not multicast/],
    ['::ffff:10.0.0.2/120', /not IPv4-mapped \(give the IPv4 address itself\)/],
    ['10.0.0.2/24,fd00::g/64', /got 'fd00::g\/64'$/],
  ])("rejects the IPv6 address '%s', saying why", (v, message) => {
    fails({ ...base, BYWAY_ADDRESS: v }, new RegExp(`^BYWAY_ADDRESS: expected .*${message.source}`));
  });
  it.each(['10.0.0.1,10.0.0.2', 'fd00::1,fe80::1', 'fd00::1/64', '10.0.0.1,', 'a,b,c'])("rejects the gateway '%s'", (v) => {
    fails({ ...base, BYWAY_GATEWAY: v }, /^BYWAY_GATEWAY: expected an IPv4 address \('10.0.0.1'\), an IPv6 one \('fe80::1'\), or one of each separated by a comma; got /);
  });
  it('needs an address except in af-xdp shared mode', () => {
    fails({ BYWAY_DRIVER: 'af-packet:eth0' }, /^BYWAY_ADDRESS: expected byway's address/);
    expect(configFromEnv({ BYWAY_DRIVER: 'af-xdp:eth0:shared' }).stack.address).toBeUndefined();
  });
  it('BYWAY_CONTROL=off turns the control socket off; a path moves it', () => {
    expect(configFromEnv({ ...base, BYWAY_CONTROL: 'off' }).control).toBeUndefined();
    expect(configFromEnv({ ...base, BYWAY_CONTROL: '/tmp/x.sock' }).control).toBe('/tmp/x.sock');
  });
});

describe('BYWAY_PATH', () => {
  it("parses the issue's example and decides flows by it (first match wins)", () => {
    const r = parsePathRules('tcp:5432=bypass,udp:53=kernel,10.20.0.0/16=bypass,default=kernel');
    expect(r.default).toBe('kernel');
    expect(r.rules).toEqual([
      { path: 'bypass', protocol: 'tcp', port: [5432] },
      { path: 'kernel', protocol: 'udp', port: [53] },
      { path: 'bypass', cidr: '10.20.0.0/16' },
    ]);
    const decide = compileStrategy(r);
    expect(decide({ protocol: 'tcp', direction: 'outbound', remoteAddress: '192.0.2.1', remotePort: 5432 })).toBe('bypass');
    expect(decide({ protocol: 'udp', direction: 'outbound', remoteAddress: '10.20.1.1', remotePort: 53 })).toBe('kernel');
    expect(decide({ protocol: 'udp', direction: 'outbound', remoteAddress: '10.20.1.1', remotePort: 54 })).toBe('bypass');
    expect(decide({ protocol: 'tcp', direction: 'inbound', localPort: 5432 })).toBe('bypass');
    expect(decide({ protocol: 'tcp', direction: 'outbound', remoteAddress: '192.0.2.1', remotePort: 80 })).toBe('kernel');
    expect(formatPathRules(r)).toBe('tcp:5432=bypass,udp:53=kernel,10.20.0.0/16=bypass,default=kernel');
  });
  it('joins protocol, direction, port lists and addresses in one selector', () => {
    const r = parsePathRules('tcp:in:80|443=bypass, out:10.0.0.1=kernel');
    expect(r.rules).toEqual([
      { path: 'bypass', protocol: 'tcp', direction: 'inbound', port: [80, 443] },
      { path: 'kernel', direction: 'outbound', cidr: '10.0.0.1/32' },
    ]);
    expect(r.default).toBe('bypass');
    const decide = compileStrategy(r);
    expect(decide({ protocol: 'tcp', direction: 'inbound', localPort: 443 })).toBe('bypass');
    expect(decide({ protocol: 'tcp', direction: 'outbound', remoteAddress: '10.0.0.1', remotePort: 443 })).toBe('kernel');
  });
  it.each([
    ['tcp:5432', /rule 'tcp:5432' has no path bypass or kernel/],
    ['tcp:5432=fast', /has no path bypass or kernel/],
    ['=bypass', /has no selector/],
    ['tcp:70000=bypass', /expected a port from 1 to 65535 in rule 'tcp:70000=bypass'; got '70000'/],
    ['sctp:1=bypass', /'sctp' in rule 'sctp:1=bypass' is none of these/],
    ['tcp:udp=bypass', /gives its protocol twice/],
    ['default=kernel,default=bypass', /'default' is given twice/],
    ['10.0.0.0/33=bypass', /'10.0.0.0\/33' in rule/],
  ])("rejects '%s', naming BYWAY_PATH", (v, why) => {
    fails({ ...base, BYWAY_PATH: v }, /^BYWAY_PATH: expected /);
    fails({ ...base, BYWAY_PATH: v }, why);
  });
  it('keeps loopback in the kernel after the user rules', () => {
    const c = configFromEnv({ ...base, BYWAY_PATH: 'tcp:80=bypass' });
    const decide = compileStrategy(c.rules);
    expect(decide({ protocol: 'tcp', direction: 'outbound', remoteAddress: '127.0.0.1', remotePort: 81 })).toBe('kernel');
    expect(decide({ protocol: 'tcp', direction: 'outbound', remoteAddress: '127.0.0.1', remotePort: 80 })).toBe('bypass');
    expect(decide({ protocol: 'tcp', direction: 'outbound', remoteAddress: '10.0.0.9', remotePort: 81 })).toBe('bypass');
    expect(formatPathRules(c.rules)).toBe('tcp:80=bypass,127.0.0.0/8=kernel,default=bypass');
  });
});

describe('BYWAY_PROFILE and BYWAY_CONFIG', () => {
  const dir = mkdtempSync(join(tmpdir(), 'byway-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('each profile is a set of createStack options a stack accepts', () => {
    for (const name of Object.keys(PROFILES)) {
      const c = configFromEnv({ ...base, BYWAY_PROFILE: name });
      const [a] = memoryLink();
      const s = createStack({ ...c.stack, driver: a });
      s.close();
    }
    const lat = configFromEnv({ ...base, BYWAY_PROFILE: 'latency' });
    expect(lat.stack.pollMode).toBe('busy');
    expect(lat.driverTuning).toEqual({ busyPoll: true, maxBatch: 32 });
    expect(configFromEnv({ ...base, BYWAY_PROFILE: 'throughput' }).driverTuning).toEqual({ tso: true });
    expect(configFromEnv(base).profile).toBe('safe');
    fails({ ...base, BYWAY_PROFILE: 'fast' }, /^BYWAY_PROFILE: expected 'latency', 'throughput' or 'safe'; got 'fast'/);
  });

  it('reads createStack options from the JSON file; the variables override it, the file overrides the profile', () => {
    const p = file(
      'ok.json',
      JSON.stringify({ driver: 'tap:bw9', address: '10.9.0.2/24', pollMode: 'busy', path: 'udp:53=kernel,default=bypass', limits: { tcp: { noDelay: false } }, driverOptions: { maxBatch: 8 } }),
    );
    const fromFile = configFromEnv({ BYWAY_CONFIG: p, BYWAY_PROFILE: 'latency' });
    expect(fromFile.driver).toEqual({ kind: 'tap', ifname: 'bw9', shared: false });
    expect(fromFile.stack.address).toBe('10.9.0.2/24');
    expect(fromFile.stack.limits?.tcp?.noDelay).toBe(false); // the file over the profile
    expect(fromFile.stack.spinUs).toBe(200); // the profile's, kept
    expect(fromFile.driverTuning).toEqual({ busyPoll: true, maxBatch: 8 });
    expect(formatPathRules(fromFile.rules)).toBe('udp:53=kernel,127.0.0.0/8=kernel,default=bypass');
    const over = configFromEnv({ BYWAY_CONFIG: p, BYWAY_DRIVER: 'af-packet:x0', BYWAY_ADDRESS: '10.8.0.2/24', BYWAY_POLL: 'event', BYWAY_PATH: 'default=kernel' });
    expect(over.driver.kind).toBe('af-packet');
    expect(over.stack.address).toEqual(['10.8.0.2/24']);
    expect(over.stack.pollMode).toBe('event');
    expect(over.rules.default).toBe('kernel');
  });

  it('names the file and the problem', () => {
    fails({ ...base, BYWAY_CONFIG: join(dir, 'missing.json') }, /^BYWAY_CONFIG: cannot read '.*missing.json'/);
    fails({ ...base, BYWAY_CONFIG: file('bad.json', '{ nope') }, /^BYWAY_CONFIG: '.*bad.json' is not JSON/);
    fails({ ...base, BYWAY_CONFIG: file('arr.json', '[]') }, /^BYWAY_CONFIG: expected a JSON object of createStack options/);
    fails({ ...base, BYWAY_CONFIG: file('typo.json', '{"polMode": "busy"}') }, /^BYWAY_CONFIG \('.*typo.json'\) or the profile: unknown option polMode; did you mean pollMode\?/);
    fails({ ...base, BYWAY_CONFIG: file('kind.json', '{"mtu": 70000}') }, /option mtu must be an integer from 68 to 65535, got 70000/);
    fails({ ...base, BYWAY_CONFIG: file('drv.json', '{"driver": 5}') }, /^BYWAY_CONFIG: expected "driver" as a string/);
    fails({ ...base, BYWAY_CONFIG: file('drv2.json', '{"driver": "ether:0"}') }, /^BYWAY_CONFIG \(driver\): expected tap:NAME/);
    fails({ ...base, BYWAY_CONFIG: file('dopt.json', '{"driverOptions": {"maxBatch": -1}}') }, /^BYWAY_CONFIG: expected driverOptions.busyPoll/);
  });
});
