/*
 * The program `byway run --workers N` runs for bench/scale.ts: the servers of scale-servers.cjs on argv[2], nothing
 * of byway in it. Prints "ready PID" once they listen.
 */
require('./scale-servers.cjs').serve(process.argv[2], () => console.log(`ready ${process.pid}`));
