/**
 * A fake native addon for NativeRingDriver (drivers/native/ring-driver.ts) without the kernel: the caller gives the
 * receive calls it wants to play (rxBatch, rxWait, rxRelease, rxPending); everything else answers "nothing" (no tx
 * slots, no error, link up). The layout puts the rx descriptors at RX_DESC and the tx areas after them, in a
 * control block sized for `maxBatch` rx and `txBatch` tx frames. Used by test/drivers/ring-driver.test.ts and
 * bench/rx-micro.ts.
 */
import type { NativeAddon, NativeHandle, NativeOpenInfo } from '../../drivers/native/index.js';

export const RX_DESC = 16;

export type FakeRx = Partial<Pick<NativeAddon, 'rxBatch' | 'rxWait' | 'rxRelease' | 'rxPending'>>;

export function fakeAddon(rx: FakeRx): NativeAddon {
  return {
    rxRelease: () => undefined,
    rxPending: () => 0,
    rxWait: () => 0,
    rxBatch: () => 0,
    ...rx,
    txAlloc: () => 0,
    txSubmit: () => 0,
    setReady: () => undefined,
    close: () => undefined,
    sockError: () => 0,
    linkState: () => 'up',
  } as unknown as NativeAddon;
}

/** The open info of a fake driver over `mem`: a fresh control block and its layout. */
export function fakeOpenInfo(mem: ArrayBuffer, maxBatch: number, txBatch: number): NativeOpenInfo {
  const ctl = new ArrayBuffer(4 * (RX_DESC + 2 * maxBatch + 4 * txBatch));
  const txSlotIdx = RX_DESC + 2 * maxBatch;
  return {
    handle: {} as NativeHandle,
    mem,
    ctl,
    fd: -1,
    ifindex: 1,
    ifname: 'fake0',
    mtu: 1500,
    rxDescIdx: RX_DESC,
    txSlotIdx,
    txOutIdx: txSlotIdx + txBatch,
    txMetaIdx: txSlotIdx + 3 * txBatch,
    maxBatch,
    txBatch,
    frameCap: 2048,
  } as NativeOpenInfo;
}
