/**
 * The pcap middleware's capture of real stack traffic (ARP, ICMP echo, UDP, IPv4 fragments, ICMP port unreachable)
 * opens in tshark with no malformed-packet or checksum warnings.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { pcapFile } from '../../drivers/middleware/index.js';
import type { PingResult } from '../../src/stack/stack.js';
import { describeWithTools } from '../helpers/netns.js';
import { ip, makePair } from './harness.js';

describeWithTools('pcap capture of stack traffic', ['tshark'], () => {
  it('opens in tshark without malformed packets or bad checksums', () => {
    const dir = mkdtempSync(join(tmpdir(), 'byway-pcap-'));
    const file = join(dir, 'stack.pcap');
    try {
      const p = makePair({ wrapA: (d) => pcapFile(d, file) });
      let pinged: PingResult | undefined;
      p.a.ping(p.clock.now(), ip('10.0.0.2'), { size: 100 }, (r) => (pinged = r));
      p.run();
      expect(pinged?.ok).toBe(true);
      const rx = p.b.udp.createSocket();
      rx.bind(0, 40000);
      const tx = p.a.udp.createSocket();
      tx.send(p.clock.now(), new Uint8Array(3000).fill(0x61), ip('10.0.0.2'), 40000);
      tx.send(p.clock.now(), new Uint8Array(20).fill(0x62), ip('10.0.0.2'), 40001); // closed: port unreachable
      p.run();
      p.a.driver.close();
      if (process.env.KEEP_PCAP) execFileSync('cp', [file, process.env.KEEP_PCAP]);
      const out = execFileSync(
        'tshark',
        ['-r', file, '-V', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
      expect(out).toContain('Address Resolution Protocol (request)');
      expect(out).toContain('Echo (ping) reply');
      expect(out).toContain('Type: 3 (Destination unreachable)');
      expect(out).toContain('Code: 3 (Port unreachable)');
      expect(out).toContain("[Fragment count: 3]");
      expect(out).toContain("[Reassembled IPv4 length: 3008]");
      expect(out).not.toMatch(/Malformed/i);
      expect(out).not.toMatch(/\[Checksum Status: Bad\]/);
      expect(out).toMatch(/\[Header checksum status: Good\]/);
      expect(out).toMatch(/\[Checksum Status: Good\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
