/** The conformance suite (suite.ts) against the af-xdp driver. */
import { conformanceSuite } from './suite.js';

conformanceSuite('af-xdp');
