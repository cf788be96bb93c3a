/** Sequence-number wrap: transfers crossing 2^31 and 2^32 in both directions (injected ISNs). */
import { describe, expect, it } from 'vitest';
import { Net, bytes, openPair, transfer } from './harness.js';
import { bytesEqual } from '../../protocols/util/bytes.js';

const cases: Array<[string, number, number]> = [
  ['2^32', 0xffffffff - 50_000, 0xffffffff - 20_000],
  ['2^31', 0x7fffffff - 50_000, 0x7fffffff - 20_000],
];

describe('sequence-number wrap', () => {
  for (const [name, issA, issB] of cases) {
    it(`bulk both ways across ${name}`, () => {
      const net = new Net(21, { isn: () => issA }, { isn: () => issB });
      const { client, server } = openPair(net);
      const d1 = bytes(200_000, 1);
      const d2 = bytes(200_000, 2);
      expect(bytesEqual(transfer(net, client, server, d1), d1)).toBe(true);
      expect(bytesEqual(transfer(net, server, client, d2), d2)).toBe(true);
    });
    it(`with loss and reordering across ${name}`, () => {
      const net = new Net(22, { isn: () => issA }, { isn: () => issB });
      const { client, server } = openPair(net);
      net.loss = 0.03;
      net.reorder = 0.05;
      const d1 = bytes(150_000, 3);
      expect(bytesEqual(transfer(net, client, server, d1), d1)).toBe(true);
      const d2 = bytes(150_000, 4);
      expect(bytesEqual(transfer(net, server, client, d2), d2)).toBe(true);
    });
  }
});
