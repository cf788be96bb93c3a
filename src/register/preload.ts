/**
 * The module `byway/register` names: runs the preload once, at import, for the whole process. A problem ends the
 * process (exit 1) with one line on stderr that names it.
 */
import { register } from './index.js';

try {
  register();
} catch (err) {
  process.stderr.write(`byway: ${(err as Error).message}\n`);
  process.exit(1);
}
