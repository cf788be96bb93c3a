/**
 * The shared-address AF_XDP cluster's option checks (no privileges needed: they throw before anything is opened).
 */
import { describe, expect, it } from 'vitest';
import { startCluster } from '../../src/cluster/index.js';
import { openAfXdp } from '../../drivers/af-xdp/index.js';

const driver = { kind: 'af-xdp', ifname: 'veth0', mode: 'shared' } as const;

describe('shared-address AF_XDP cluster options', () => {
  it('takes no address in shared mode, needs one otherwise, and knows only own and shared', async () => {
    await expect(startCluster({ workers: 2, driver, address: '10.0.0.2/24', file: 'x.js' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: /takes no address/ });
    await expect(startCluster({ workers: 2, driver: { kind: 'af-xdp', ifname: 'veth0' }, file: 'x.js' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: /address is required/ });
    await expect(startCluster({ workers: 2, driver: { ...driver, mode: 'both' as 'own' }, file: 'x.js' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: /'own' or 'shared'/ });
  });

  it("a socket joining a program's XSKMAP has sharedFlows exactly in shared mode, with a valid holder and lock", () => {
    const lock = new SharedArrayBuffer(4);
    expect(() => openAfXdp({ ifname: 'veth0', mode: 'shared', xskMapFd: 5 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/needs sharedFlows/) }));
    expect(() => openAfXdp({ ifname: 'veth0', ipv4: '10.0.0.2', xskMapFd: 5, sharedFlows: { flowMapFd: 6, holder: 0, lock } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => openAfXdp({ ifname: 'veth0', mode: 'shared', xskMapFd: 5, sharedFlows: { flowMapFd: 6, holder: 64, lock } })).toThrow(expect.objectContaining({ message: expect.stringMatching(/holder must be an integer from 0 to 63/) }));
    expect(() => openAfXdp({ ifname: 'veth0', mode: 'shared', xskMapFd: 5, sharedFlows: { flowMapFd: -1, holder: 0 } })).toThrow(expect.objectContaining({ message: expect.stringMatching(/flowMapFd must be a descriptor/) }));
    expect(() => openAfXdp({ ifname: 'veth0', mode: 'shared', xskMapFd: 5, sharedFlows: { flowMapFd: 6, holder: 0, lock: new SharedArrayBuffer(2) } })).toThrow(expect.objectContaining({ message: expect.stringMatching(/SharedArrayBuffer of at least 4 bytes/) }));
  });
});
