// An ordinary program (no byway in it) that runs a child node process and prints the NODE_OPTIONS the child saw.
'use strict';
const { execFileSync } = require('node:child_process');
const seen = execFileSync(process.execPath, ['-p', 'String(process.env.NODE_OPTIONS)'], { encoding: 'utf8' }).trim();
console.log(`child NODE_OPTIONS=${seen}`);
