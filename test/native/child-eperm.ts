// Child for the privilege test: tries each native driver and prints one JSON line per attempt ({code, message}).
import { openTap } from '../../drivers/tap/index.js';
import { openAfPacket } from '../../drivers/af-packet/index.js';
import { openAfXdp } from '../../drivers/af-xdp/index.js';

const attempts: Record<string, () => { close(): void }> = {
  tap: () => openTap({}),
  packet: () => openAfPacket({ ifname: 'lo' }),
  xdp: () => openAfXdp({ ifname: 'lo', ipv4: '127.0.0.9' }),
};
for (const [name, f] of Object.entries(attempts)) {
  try {
    f().close();
    console.log(JSON.stringify({ name, code: 'OPENED' }));
  } catch (e) {
    const err = e as { code?: string; message?: string };
    console.log(JSON.stringify({ name, code: err.code, message: err.message }));
  }
}
