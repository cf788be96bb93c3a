/** The impaired path of the conformance suite (suite.ts), shared with its virtual-clock twin (test/tcp/impaired.test.ts). */
import type { FaultConfig } from '../../drivers/middleware/index.js';

/** Applied to what byway sends and to what it receives: 5 % loss, 25 % reordered by 3 ms, 2 % duplicated, 10 ms + 0-4 ms. */
export const IMPAIRMENT: FaultConfig = { loss: 0.05, reorder: 0.25, reorderDelayMs: 3, duplicate: 0.02, delayMs: 10, jitterMs: 4 };
