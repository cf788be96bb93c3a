/**
 * What spreading the kernel gives an AF_PACKET fanout group on a veth, per fanout mode (issue #19): two namespaces,
 * a veth pair with `--queues` tx and rx queues on each end, `--members` AF_PACKET members in one group on the
 * receiving end; the kernel in the peer namespace sends `--flows` UDP flows (`--per-flow` datagrams each, one
 * socket per flow, so one source port per flow), half from a sender pinned to CPU 0 and half from one pinned to
 * CPU 1. Prints, per mode, the datagrams each member got, how many flows were split over members (a flow must
 * stay on one member), and for 'cbpf' whether every datagram went where flowWorker says.
 *
 *   node --import tsx bench/fanout-spread.ts [--queues 2] [--members 2] [--flows 64] [--per-flow 4]
 */
import { parseArgs } from 'node:util';
import { buildFanoutProgram, flowWorker, openAfPacket, type FanoutMode, type AfPacketDriver } from '../drivers/af-packet/index.js';
import { NetLab, execInAsync, ipIn } from '../test/helpers/netns.js';

const { values } = parseArgs({
  options: {
    queues: { type: 'string', default: '2' },
    members: { type: 'string', default: '2' },
    flows: { type: 'string', default: '64' },
    'per-flow': { type: 'string', default: '4' },
  },
});
const queues = Number(values.queues);
const members = Number(values.members);
const flows = Number(values.flows);
const perFlow = Number(values['per-flow']);
const PORT = 7000;

const lab = new NetLab();
process.on('SIGINT', () => {
  lab.destroy();
  process.exit(130);
});

function drain(d: AfPacketDriver, onFrame: (f: Uint8Array) => void): void {
  for (let i = 0; i < 1000 && d.receive(0, 256, onFrame) > 0; i++);
}

async function trial(mode: FanoutMode): Promise<void> {
  const nsA = lab.addNetns('bwfA-');
  const nsB = lab.addNetns('bwfB-');
  const link = lab.addVeth(nsA, nsB, { addrB: '10.77.8.1/24', queues });
  const group = 1 + ((process.pid + mode.length * 131) % 60000);
  const spec = { workers: members };
  const ds: AfPacketDriver[] = [];
  try {
    for (let i = 0; i < members; i++) {
      ds.push(openAfPacket({
        ifname: link.a, netns: nsA, ipv4: '10.77.8.2', tpacketVersion: 2,
        fanout: { group, mode, ...(mode === 'cbpf' ? { program: buildFanoutProgram(spec) } : {}) },
      }));
    }
    const mac = [...ds[0]!.hwAddress!].map((x) => x.toString(16).padStart(2, '0')).join(':');
    ipIn(nsB, `neigh add 10.77.8.2 lladdr ${mac} dev ${link.b} nud permanent`);
    const script = (n: number): string =>
      `const d=require('node:dgram');let k=0;for(let i=0;i<${n};i++){const s=d.createSocket('udp4');let m=0;const go=()=>s.send(Buffer.from('spread'),${PORT},'10.77.8.2',()=>{if(++m<${perFlow})go();else{s.close();if(++k===${n})process.exit(0)}});go()}`;
    const half = Math.floor(flows / 2);
    await Promise.all([
      execInAsync(nsB, 'taskset', ['-c', '0', process.execPath, '-e', script(half)], { timeoutMs: 20_000 }),
      execInAsync(nsB, 'taskset', ['-c', '1', process.execPath, '-e', script(flows - half)], { timeoutMs: 20_000 }),
    ]);
    const perMember = ds.map(() => 0);
    const flowMembers = new Map<number, Set<number>>();
    let mispredicted = 0;
    for (let m = 0; m < members; m++) {
      drain(ds[m]!, (f) => {
        if (((f[12]! << 8) | f[13]!) !== 0x0800 || f[23] !== 17 || ((f[36]! << 8) | f[37]!) !== PORT) return;
        perMember[m]!++;
        const sport = (f[34]! << 8) | f[35]!;
        if (!flowMembers.has(sport)) flowMembers.set(sport, new Set());
        flowMembers.get(sport)!.add(m);
        if (mode === 'cbpf' && flowWorker(spec, 0x0800, f.subarray(14)) !== m) mispredicted++;
      });
    }
    const split = [...flowMembers.values()].filter((s) => s.size > 1).length;
    const total = perMember.reduce((a, b) => a + b, 0);
    console.log(
      `${mode.padEnd(6)} per member ${JSON.stringify(perMember)} of ${total} (${flows * perFlow} sent), flows ${flowMembers.size}, split over members ${split}` +
        (mode === 'cbpf' ? `, not where flowWorker says ${mispredicted}` : ''),
    );
  } finally {
    for (const d of ds) d.close();
  }
}

try {
  console.log(`veth with ${queues} tx/rx queues each end, ${members} fanout members, ${flows} UDP flows x ${perFlow} datagrams (half sent from CPU 0, half from CPU 1)`);
  for (const mode of ['hash', 'qm', 'cpu', 'lb', 'cbpf'] as const) await trial(mode);
} finally {
  lab.destroy();
}
