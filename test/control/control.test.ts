/**
 * The control socket over an in-memory link: `stat` and `ss` answer with the stack's counters and connections,
 * `capture` streams a pcap of every frame (including ones no socket takes) that the pcap reader opens, and the
 * socket file is private to its user. Also the text formats of `byway stat` and `byway ss`.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { memoryLink } from '../../drivers/memory/index.js';
import { readPcap } from '../../drivers/middleware/pcap-reader.js';
import { createStack, type Stack } from '../../src/api/stack.js';
import { captureTap } from '../../src/control/capture.js';
import { startControlServer, type ControlServer } from '../../src/control/server.js';
import { query, captureTo } from '../../src/control/client.js';
import { formatSs, formatStat } from '../../src/cli/format.js';
import { main } from '../../src/cli/byway.js';
import { controlPath } from '../../src/control/paths.js';
import { seededRng } from '../../protocols/util/rng.js';

describe('control socket (in-memory link)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'byway-control-'));
  const path = join(dir, 'run', `${process.pid}.sock`);
  let app: Stack;
  let peer: Stack;
  let control: ControlServer;
  let tap: ReturnType<typeof captureTap>;

  beforeAll(() => {
    const [a, b] = memoryLink();
    tap = captureTap(a, () => performance.timeOrigin);
    app = createStack({ driver: tap.driver, address: '10.0.0.1/24', rng: seededRng(1) });
    peer = createStack({ driver: b, address: '10.0.0.2/24', rng: seededRng(2) });
    control = startControlServer(path, { stack: app, capture: tap, listeners: () => [{ address: '0.0.0.0', port: 7 }], info: () => ({ spec: 'memory', rules: 'default=bypass' }) });
  });
  afterAll(() => {
    control.close();
    app.close();
    peer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a socket only its user can open, in a 0700 directory', () => {
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'run')).mode & 0o777).toBe(0o700);
  });

  it('stat: counters of the stack and driver, with deltas as formatted by byway stat', async () => {
    await peer.ping('10.0.0.1');
    const s1 = await query(process.pid, { cmd: 'stat' }, path);
    expect(s1['pid']).toBe(process.pid);
    expect((s1['stack'] as { icmp: { echoRequests: number } }).icmp.echoRequests).toBe(1);
    const text = formatStat(s1);
    expect(text).toMatch(/^#spec memory$/m);
    expect(text).toMatch(/^stack\.icmp\.echoRequests +1$/m);
    expect(text).not.toMatch(/ 0$/m); // non-zero counters only, as nstat
    await peer.ping('10.0.0.1');
    await peer.ping('10.0.0.1');
    const s2 = await query(process.pid, { cmd: 'stat' }, path);
    const delta = formatStat(s2, { previous: s1 });
    expect(delta).toMatch(/^#delta over /m);
    expect(delta).toMatch(/^stack\.icmp\.echoRequests +2$/m);
  });

  it('ss: TCP connections with their info, listeners and UDP sockets, like ss -tuni', async () => {
    const srv = app.net.createServer((s) => s.pipe(s));
    srv.listen({ port: 7, path: 'bypass' });
    await new Promise((r) => srv.once('listening', r));
    const c = peer.net.createConnection({ port: 7, host: '10.0.0.1', path: 'bypass' });
    await new Promise((r) => c.once('connect', r));
    const u = app.dgram.createSocket({ type: 'udp4', path: 'bypass' });
    u.bind(5353);
    await new Promise((r) => u.once('listening', r));
    const answer = await query(process.pid, { cmd: 'ss' }, path);
    const text = formatSs(answer);
    expect(text).toMatch(/^Netid State +Recv-Q Send-Q Local Address:Port +Peer Address:Port$/m);
    expect(text).toMatch(/^tcp +LISTEN +0 +0 +0\.0\.0\.0:7 /m);
    expect(text).toMatch(/^tcp +ESTAB +0 +0 +10\.0\.0\.1:7 +10\.0\.0\.2:\d+$/m);
    expect(text).toMatch(/^\t .*rto:\d+.* cwnd:\d+ .*retrans:0\/0 .*rack_losses:0/m);
    expect(text).toMatch(/^udp +UNCONN +0 +0 +0\.0\.0\.0:5353 +0\.0\.0\.0:\*$/m);
    c.destroy();
    u.close();
    srv.close();
  });

  it('capture: a pcap of N frames, including frames no socket takes; one capture at a time', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    // The capture has started once its pcap file header has come back (the tap writes it at start).
    const started = new Promise<void>((resolve) => out.once('data', () => resolve()));
    out.on('data', (d: Buffer) => chunks.push(d));
    const done = captureTo(process.pid, { count: 4 }, out, undefined, path);
    await started;
    await expect(captureTo(process.pid, { count: 1 }, new PassThrough(), undefined, path)).rejects.toThrow(/a capture is already running/);
    // a datagram to a port nobody has bound (the stack answers port unreachable), then a ping
    const u = peer.dgram.createSocket({ type: 'udp4', path: 'bypass' });
    u.send('nobody here', 9, '10.0.0.1');
    await peer.ping('10.0.0.1');
    const bytes = await done;
    u.close();
    const pcap = readPcap(new Uint8Array(Buffer.concat(chunks)));
    expect(bytes).toBe(Buffer.concat(chunks).length);
    expect(pcap.records.length).toBe(4);
    // the first frame received: the UDP datagram to port 9 (or the ARP before it); some frame carries port 9
    const udpTo9 = pcap.records.some((r) => r.data[23] === 17 && r.data[36] === 0 && r.data[37] === 9);
    expect(udpTo9).toBe(true);
    expect(tap.active).toBe(false);
  });

  it('byway stat --interval: the counters, then their changes each interval (the command, in this process)', async () => {
    // The command finds the socket where a preload would put it: $XDG_RUNTIME_DIR/byway/PID.sock.
    const saved = process.env['XDG_RUNTIME_DIR'];
    process.env['XDG_RUNTIME_DIR'] = join(dir, 'xdg');
    const second = startControlServer(controlPath(process.pid), { stack: app, capture: captureTap(memoryLink()[0], () => 0), listeners: () => [], info: () => ({ spec: 'memory', rules: 'default=bypass' }) });
    const written: string[] = [];
    let firstSample: () => void = () => {};
    const sampled = new Promise<void>((resolve) => (firstSample = resolve));
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string) => {
      written.push(String(chunk));
      firstSample();
      return true;
    }) as never);
    try {
      const run = main(['stat', String(process.pid), '--interval', '0.5', '--count', '1']);
      await sampled;
      await peer.ping('10.0.0.1'); // after the first sample, within the interval: the delta shows it
      expect(await run).toBe(0);
    } finally {
      spy.mockRestore();
      second.close();
      if (saved === undefined) delete process.env['XDG_RUNTIME_DIR'];
      else process.env['XDG_RUNTIME_DIR'] = saved;
    }
    expect(written).toHaveLength(2);
    expect(written[0]).toMatch(/^#spec memory$/m);
    expect(written[0]).not.toMatch(/^#delta/m);
    expect(written[1]).toMatch(/^#delta over [\d.]+ s$/m);
    expect(written[1]).toMatch(/^stack\.icmp\.echoRequests +1$/m);
  });

  it('answers an unknown command with an error', async () => {
    await expect(query(process.pid, { cmd: 'reboot' }, path)).rejects.toThrow(/unknown command 'reboot'/);
  });
});
