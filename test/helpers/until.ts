/**
 * The one polling wait of the tests that cross a real kernel (test/cluster, test/cli; netns.ts's throwing
 * `until(what, ms, ok)` runs on it): check `cond` every `everyMs` until it holds or `ms` pass. It does not throw on
 * time-out: the test's own assertion after it says what was missing. `cond` may be async (a command run in a
 * namespace). Not for protocol tests: those drive the virtual clock.
 */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5_000, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond()) && Date.now() < end) await new Promise((r) => setTimeout(r, everyMs));
}
