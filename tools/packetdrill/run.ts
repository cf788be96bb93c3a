// Entry point of `npm run packetdrill` (see cli.ts).
import { main } from './cli.js';

process.exitCode = main(process.argv.slice(2));
