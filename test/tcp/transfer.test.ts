import { describe, expect, it } from 'vitest';
import { Net, bytes, openPair, transfer } from './harness.js';
import { bytesEqual } from '../../protocols/util/bytes.js';

describe('TCP transfer between two layers', () => {
  it('handshake, data both ways, orderly close to TIME-WAIT and CLOSED', () => {
    const net = new Net(1);
    const { client, server } = openPair(net);
    expect(client.info().timestamps).toBe(true);
    expect(client.info().sackPermitted).toBe(true);
    expect(client.info().sndMss).toBe(1460 - 12);
    expect(client.info().congestionControl).toBe('cubic'); // the default (RFC 9438)
    const d1 = bytes(100_000, 2);
    expect(bytesEqual(transfer(net, client, server, d1), d1)).toBe(true);
    const d2 = bytes(50_000, 3);
    expect(bytesEqual(transfer(net, server, client, d2), d2)).toBe(true);
    let clientClosed = false;
    let serverEnd = false;
    client.onClose = () => (clientClosed = true);
    server.onEnd = () => (serverEnd = true);
    client.close(net.now);
    expect(net.run(() => serverEnd && client.state === 'FIN-WAIT-2')).toBe(true);
    expect(server.state).toBe('CLOSE-WAIT');
    expect(client.state).toBe('FIN-WAIT-2');
    server.close(net.now);
    expect(net.run(() => server.state === 'CLOSED')).toBe(true);
    expect(client.state).toBe('TIME-WAIT');
    expect(clientClosed).toBe(true);
    net.advance(60_000);
    expect(client.state).toBe('CLOSED');
    expect(net.a.connectionCount).toBe(0);
    expect(net.b.connectionCount).toBe(0);
  });

  it('bulk transfer with 2% loss, reordering and duplication completes intact', () => {
    const net = new Net(7);
    const { client, server } = openPair(net);
    net.loss = 0.02;
    net.reorder = 0.05;
    net.dup = 0.02;
    const d = bytes(400_000, 9);
    expect(bytesEqual(transfer(net, client, server, d), d)).toBe(true);
    const i = client.info();
    expect(i.retransmits).toBeGreaterThan(0);
  });
});
