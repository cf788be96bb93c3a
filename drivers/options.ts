/** Option parsing shared by the drivers. Bad options are misuse: ERR_INVALID_ARG_VALUE. */
import { invalidArg } from '../protocols/util/errors.js';

/** An integer option: `dflt` when undefined, else an integer in [min, max]. */
export function positiveInt(name: string, v: number | undefined, dflt: number, min = 1, max = 1 << 24): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > max) throw invalidArg(`${name} must be an integer in [${min}, ${max}], got ${v}`);
  return v;
}
