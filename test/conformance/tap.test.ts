/** The conformance suite (suite.ts) against the tap driver. */
import { conformanceSuite } from './suite.js';

conformanceSuite('tap');
