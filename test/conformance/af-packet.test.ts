/** The conformance suite (suite.ts) against the af-packet driver. */
import { conformanceSuite } from './suite.js';

conformanceSuite('af-packet');
