/**
 * Linux's receive at a small or closed window, on the virtual clock: an in-order segment that finds nothing waiting
 * to be read is taken whole even past the window (acceptWholeWhenEmpty, Linux's tcp_data_queue with
 * sk_forced_mem_schedule), and a bare FIN at RCV.NXT is taken at a zero window (acceptFinAtZeroWindow, Linux's
 * tcp_data_queue in Linux 6.x, which breaks FIN/ACK loops with stacks that send FINs into a closed window). Without the
 * options byway trims to the window and answers the FIN with an ACK (RFC 9293 3.10.7.4).
 */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, bytes } from './harness.js';
import { Tester } from './fixtures.js';

const small = { receiveBuffer: 4000, maxReceiveBuffer: 4000, windowScaling: false, quickAcks: 16 };

describe('acceptWholeWhenEmpty and acceptFinAtZeroWindow (Linux tcp_data_queue)', () => {
  it('takes a 6000-byte in-order segment whole into an empty 4000-byte buffer, offers window 0, then takes a bare FIN', () => {
    // delayFinAck too: the FIN taken at a zero window is ACKed at once all the same (Linux's ICSK_ACK_NOW).
    const t = new Tester({ ...small, acceptWholeWhenEmpty: true, acceptFinAtZeroWindow: true, delayFinAck: true });
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(6000));
    t.recv({ flags: ACK, ack: t.r(6001), window: 0 });
    t.send({ flags: ACK | FIN, seq: t.r(6001), ack: t.l(1) });
    t.recv({ flags: ACK, ack: t.r(6002), window: 0 });
    expect(c.state).toBe('CLOSE-WAIT');
    const out = new Uint8Array(8000);
    expect(c.read(t.now, out)).toBe(6000);
  });

  it('still trims a segment past the window when data already waits to be read (only an empty buffer overfills)', () => {
    const t = new Tester({ ...small, acceptWholeWhenEmpty: true });
    t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(1000));
    t.recv({ flags: ACK, ack: t.r(1001), window: 3000 });
    t.send({ flags: ACK, seq: t.r(1001), ack: t.l(1) }, bytes(5000));
    t.recv({ flags: ACK, ack: t.r(4001), window: 0 });
  });

  it('without the options, trims to the window and answers a FIN at a zero window with an ACK (RFC 9293 3.10.7.4)', () => {
    const t = new Tester(small);
    const c = t.established();
    t.send({ flags: ACK, seq: t.r(1), ack: t.l(1) }, bytes(6000));
    t.recv({ flags: ACK, ack: t.r(4001), window: 0 });
    t.send({ flags: ACK, seq: t.r(4001), ack: t.l(1) }, bytes(100));
    t.recv({ flags: ACK, ack: t.r(4001), window: 0 });
    t.send({ flags: ACK | FIN, seq: t.r(4001), ack: t.l(1) });
    t.recv({ flags: ACK, ack: t.r(4001), window: 0 });
    expect(c.state).toBe('ESTABLISHED');
  });
});
