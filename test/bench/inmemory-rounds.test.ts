/**
 * The in-memory workload's rounds (bench/lib/inmemory-rounds.ts): several processes' figures merged into medians
 * with their lowest and highest round, the record's shape kept for readers of one round, and the report printing
 * the spread. Pure: no process is run.
 */
import { describe, expect, it } from 'vitest';
import { mergeInMemoryRounds, type InMemoryLinkRound, type InMemoryRound } from '../../bench/lib/inmemory-rounds.js';
import { renderDoc, type BenchRecord } from '../../bench/report.js';
import { benchRecord } from '../helpers/bench-record.js';

const link = (name: string, gbit: number, perSec: number): InMemoryLinkRound => ({
  link: name,
  mtu: name === 'loopback' ? 65535 : 1500,
  checksumOffload: name !== 'ethernet',
  bulk: { bytes: 1e9, gbitPerSec: gbit, gbitPerCpuSec: gbit - 0.5, seconds: 8 / gbit, cpuSeconds: 8 / gbit },
  transactions: { count: 400_000, size: 64, perSec, perCpuSec: perSec - 1000, seconds: 1, cpuSeconds: 1 },
});
const round = (eth: [number, number], veth: [number, number]): InMemoryRound => ({ links: [link('ethernet', ...eth), link('veth', ...veth)] });

describe('merging the in-memory rounds', () => {
  const rounds = [round([9.5, 380_000], [16, 390_000]), round([10.25, 357_000], [17, 401_000]), round([9.9, 402_000], [15, 384_000])];

  it('takes each figure median with its lowest and highest round, per link', () => {
    const m = mergeInMemoryRounds(rounds) as { links: Array<{ link: string; rounds: number; bulk: Record<string, number>; transactions: Record<string, number> }> };
    expect(m.links.map((l) => l.link)).toEqual(['ethernet', 'veth']);
    const [eth, veth] = m.links;
    expect(eth!.rounds).toBe(3);
    expect(eth!.bulk).toMatchObject({ bytes: 1e9, gbitPerSec: 9.9, gbitPerSecMin: 9.5, gbitPerSecMax: 10.25, gbitPerCpuSec: 9.4 });
    expect(eth!.transactions).toMatchObject({ count: 400_000, size: 64, perSec: 380_000, perSecMin: 357_000, perSecMax: 402_000, perCpuSec: 379_000 });
    expect(veth!.bulk).toMatchObject({ gbitPerSec: 16, gbitPerSecMin: 15, gbitPerSecMax: 17 });
    expect(veth!.transactions).toMatchObject({ perSec: 390_000, perSecMin: 384_000, perSecMax: 401_000 });
  });

  it('keeps the shape of one round: the first link at the top level, and every round under `rounds`', () => {
    const m = mergeInMemoryRounds(rounds) as Record<string, unknown>;
    expect(m['mtu']).toBe(1500);
    expect((m['bulk'] as Record<string, number>)['gbitPerSec']).toBe(9.9);
    expect((m['transactions'] as Record<string, number>)['perSec']).toBe(380_000);
    expect(m['rounds']).toBe(rounds);
  });

  it('matches links by name, not position, and a round that lacks one leaves it out of that link', () => {
    const swapped: InMemoryRound = { links: [link('veth', 30, 500_000)] };
    const m = mergeInMemoryRounds([rounds[0]!, swapped]) as { links: Array<{ link: string; rounds: number; bulk: Record<string, number> }> };
    expect(m.links.find((l) => l.link === 'ethernet')).toMatchObject({ rounds: 1, bulk: { gbitPerSec: 9.5, gbitPerSecMin: 9.5, gbitPerSecMax: 9.5 } });
    expect(m.links.find((l) => l.link === 'veth')).toMatchObject({ rounds: 2, bulk: { gbitPerSec: 23, gbitPerSecMin: 16, gbitPerSecMax: 30 } });
  });

  it('refuses no rounds at all', () => {
    expect(() => mergeInMemoryRounds([])).toThrow(/no rounds/);
  });
});

describe('the report prints the in-memory spread', () => {
  const rec = (inmemory: Record<string, unknown>): BenchRecord => benchRecord({ inmemory });

  it('median (lowest-highest) per figure after several rounds', () => {
    const doc = renderDoc(rec({ ok: true, command: 'node dist/bench/inmemory-tcp.js --all (3 rounds)', ...mergeInMemoryRounds([round([9.5, 380_000], [16, 390_000]), round([10.25, 357_000], [17, 401_000]), round([9.9, 402_000], [15, 384_000])]) }), 'r.json');
    expect(doc).toContain('median of 3 rounds');
    expect(doc).toMatch(/\| ethernet \| 1500 \| software \| 9\.90 \(9\.50-10\.25\) Gbit\/s \(9\.40 per CPU-s\) \| 380,000 \(357,000-402,000\) \/s \(379,000 per CPU-s\) \|/);
  });

  it('says which vCPU each round ran on, when the rounds recorded it (not for older records)', () => {
    const placed = (r: InMemoryRound, bulkOn: [number, number], txOn: [number, number]): InMemoryRound => ({
      links: r.links.map((l) => ({ ...l, bulk: { ...l.bulk, ranOn: bulkOn }, transactions: { ...l.transactions, ranOn: txOn } })),
    });
    const rs = [placed(round([11.24, 370_950], [20, 421_000]), [1, 1], [1, 1]), placed(round([7.0, 278_890], [14, 335_000]), [0, 0], [0, 1]), placed(round([6.95, 266_667], [12.5, 294_000]), [0, 0], [0, 0])];
    const doc = renderDoc(rec({ ok: true, command: 'node dist/bench/inmemory-tcp.js --all (3 rounds)', ...mergeInMemoryRounds(rs) }), 'r.json');
    expect(doc).toContain('- round 1: on vCPU 1; ethernet 11.24 Gbit/s, 370,950 /s');
    expect(doc).toContain('- round 2: on vCPU 0 and 1; ethernet 7.00 Gbit/s, 278,890 /s');
    expect(doc).toContain('- round 3: on vCPU 0; ethernet 6.95 Gbit/s, 266,667 /s');
    const older = renderDoc(rec({ ok: true, command: 'x (3 rounds)', ...mergeInMemoryRounds([round([9.5, 380_000], [16, 390_000]), round([9.9, 402_000], [15, 384_000])]) }), 'r.json');
    expect(older).not.toContain('Where each round ran');
  });

  it('one figure per cell for a record of one round (older records included)', () => {
    const one = round([9.91, 357_475], [16.6, 384_000]);
    const doc = renderDoc(rec({ ok: true, command: 'node --import tsx bench/inmemory-tcp.ts --all', mtu: 1500, links: one.links }), 'r.json');
    expect(doc).not.toContain('median of');
    expect(doc).toMatch(/\| ethernet \| 1500 \| software \| 9\.91 Gbit\/s \(9\.41 per CPU-s\) \| 357,475 \/s \(356,475 per CPU-s\) \|/);
  });
});
