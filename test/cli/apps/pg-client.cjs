// An ordinary pg client (no byway in it): a table, a committed and a rolled-back transaction, a 5 MB SELECT,
// checked; prints one JSON line, then stays up for STAY_MS so its counters can be read.
// Usage: node pg-client.cjs HOST PORT STAY_MS
'use strict';
const { Client } = require('pg');
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
  console.log(JSON.stringify({ count, row, bigRows: big.rows.length, bigOk: ok, bigBytes: bytes }));
  setTimeout(() => c.end(), Number(stayMs));
})().catch((err) => {
  console.log(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }));
  process.exit(1);
});
