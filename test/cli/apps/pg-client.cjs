// An ordinary pg client (no byway in it): a table, a committed and a rolled-back transaction, a 5 MB SELECT,
// an 8 MB COPY FROM STDIN and COPY TO STDOUT (pg-copy-streams), checked by MD5 on the server and SHA-256 here;
// prints one JSON line, then stays up for STAY_MS so its counters can be read.
// Usage: node pg-client.cjs HOST PORT STAY_MS
'use strict';
const crypto = require('node:crypto');
const { pipeline } = require('node:stream/promises');
const { Readable } = require('node:stream');
const { Client } = require('pg');
const copyStreams = require('pg-copy-streams');
const [host, port, stayMs] = process.argv.slice(2);
(async () => {
  const c = new Client({ host, port: Number(port), user: 'postgres', database: 'postgres' });
  await c.connect();
  await c.query('DROP TABLE IF EXISTS t');
  await c.query('CREATE TABLE t (id int PRIMARY KEY, v text)');
  await c.query('BEGIN');
  for (let i = 0; i < 500; i++) await c.query('INSERT INTO t VALUES ($1, $2)', [i, `row ${i}`]);
  await c.query('COMMIT');
  await c.query('BEGIN');
  await c.query("INSERT INTO t SELECT g, 'gone' FROM generate_series(1000, 1999) g");
  await c.query('ROLLBACK');
  const count = Number((await c.query('SELECT count(*) AS n FROM t')).rows[0].n);
  const row = (await c.query('SELECT v FROM t WHERE id = $1', [321])).rows[0].v;
  const big = await c.query("SELECT g AS id, repeat(md5(g::text), 32) AS pad FROM generate_series(1, 5000) g");
  let bytes = 0;
  let ok = 0;
  for (const r of big.rows) {
    bytes += r.pad.length;
    if (r.pad.length === 1024) ok++;
  }
  // COPY in: 8000 rows of 1 KB, in 64 KB chunks; the server hashes what it stored, in the same text form.
  const lines = [];
  for (let i = 0; i < 8000; i++) lines.push(`${i}\t${String.fromCharCode(97 + (i % 26)).repeat(1000 + (i % 7))}\n`);
  const text = Buffer.from(lines.join(''));
  await c.query('DROP TABLE IF EXISTS bulk');
  await c.query('CREATE TABLE bulk (id int PRIMARY KEY, v text)');
  const chunks = [];
  for (let o = 0; o < text.length; o += 65536) chunks.push(text.subarray(o, o + 65536));
  await pipeline(Readable.from(chunks), c.query(copyStreams.from('COPY bulk FROM STDIN')));
  const stored = (await c.query("SELECT count(*) AS n, md5(string_agg(id::text || E'\\t' || v || E'\\n', '' ORDER BY id)) AS h FROM bulk")).rows[0];
  const md5 = crypto.createHash('md5').update(text).digest('hex');
  // COPY out: the same rows back, byte for byte.
  const out = crypto.createHash('sha256');
  let outBytes = 0;
  const copyOut = c.query(copyStreams.to('COPY (SELECT id, v FROM bulk ORDER BY id) TO STDOUT'));
  for await (const chunk of copyOut) {
    out.update(chunk);
    outBytes += chunk.length;
  }
  const copy = {
    inBytes: text.length,
    inRows: Number(stored.n),
    inMd5Match: stored.h === md5,
    outBytes,
    outSha256Match: out.digest('hex') === crypto.createHash('sha256').update(text).digest('hex'),
  };
  console.log(JSON.stringify({ count, row, bigRows: big.rows.length, bigOk: ok, bigBytes: bytes, copy }));
  setTimeout(() => c.end(), Number(stayMs));
})().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }));
  process.exit(1);
});
