// An ordinary ws client (run on the kernel side): sends N numbered messages, checks every echo in order, prints
// one JSON line. Usage: node ws-client.cjs URL N
'use strict';
const { WebSocket } = require('ws');
const [url, n] = process.argv.slice(2);
const N = Number(n);
const ws = new WebSocket(url);
let next = 0;
let inOrder = true;
ws.on('open', () => {
  for (let i = 0; i < N; i++) ws.send(`message ${i}`);
});
ws.on('message', (m) => {
  if (String(m) !== `message ${next}`) inOrder = false;
  if (++next === N) {
    console.log(JSON.stringify({ echoed: next, inOrder }));
    ws.close();
  }
});
ws.on('error', (err) => {
  console.log(JSON.stringify({ error: String(err) }));
  process.exit(1);
});
