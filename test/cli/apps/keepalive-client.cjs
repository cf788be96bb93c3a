// Keep-alive connections for the "flows stay with their worker" tests (issue #19), in the peer namespace.
//   node keepalive-client.cjs ADDRESS PORT N DIR http|byte
// Opens N connections to ADDRESS:PORT. For k = 1, 2, 3, once DIR/rK exists, one request on each connection and
// "round K [answers]" (after round 1 also "ports [local ports]"): `http` sends GET / and takes the response's body,
// `byte` sends one byte and takes what comes back up to its first ':'. Once DIR/r4 exists each connection ends its
// side and "closed [how]" says 'end' (the server's FIN) or the error. A request or a close unanswered for 10 s is
// 'TIMEOUT'. The files are the test's clock: the test decides when each round starts.
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');

const [addr, port, n, dir, mode] = process.argv.slice(2);
const N = Number(n);
const socks = [];
const waiting = [];
const bufs = [];
for (let i = 0; i < N; i++) {
  const s = net.connect(Number(port), addr);
  socks.push(s);
  bufs.push('');
  s.setEncoding('utf8');
  s.on('data', (d) => {
    if (mode === 'byte') return waiting[i]?.(d.split(':')[0]);
    bufs[i] += d;
    const h = bufs[i].indexOf('\r\n\r\n');
    if (h < 0) return;
    const l = /content-length: *(\d+)/i.exec(bufs[i].slice(0, h));
    if (!l || bufs[i].length < h + 4 + Number(l[1])) return;
    const body = bufs[i].slice(h + 4, h + 4 + Number(l[1]));
    bufs[i] = bufs[i].slice(h + 4 + Number(l[1]));
    waiting[i]?.(body);
  });
  s.on('error', (e) => waiting[i]?.(e.code || e.message));
  s.on('close', () => waiting[i]?.('CLOSED'));
}

const ask = (i) =>
  new Promise((res) => {
    const t = setTimeout(() => res('TIMEOUT'), 10000);
    waiting[i] = (x) => {
      clearTimeout(t);
      waiting[i] = undefined;
      res(x);
    };
    socks[i].write(mode === 'byte' ? 'x' : 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  });

const gate = (f) =>
  new Promise((res) => {
    const w = () => (fs.existsSync(path.join(dir, f)) ? res() : setTimeout(w, 20));
    w();
  });

const close = (s) =>
  new Promise((res) => {
    const t = setTimeout(() => res('TIMEOUT'), 10000);
    s.removeAllListeners();
    s.on('data', () => {});
    s.on('error', (e) => {
      clearTimeout(t);
      res(e.code || e.message);
    });
    s.on('end', () => {
      clearTimeout(t);
      res('end');
    });
    s.end();
  });

(async () => {
  for (let k = 1; k <= 3; k++) {
    await gate('r' + k);
    console.log('round ' + k + ' ' + JSON.stringify(await Promise.all(socks.map((_, i) => ask(i)))));
    if (k === 1) console.log('ports ' + JSON.stringify(socks.map((s) => s.localPort)));
  }
  await gate('r4');
  console.log('closed ' + JSON.stringify(await Promise.all(socks.map(close))));
})();
