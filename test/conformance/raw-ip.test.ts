/** The conformance suite (suite.ts) against the raw-ip driver. */
import { conformanceSuite } from './suite.js';

conformanceSuite('raw-ip');
