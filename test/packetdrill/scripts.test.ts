/**
 * The upstream packetdrill scripts (GPL-2.0 test data, kept outside this repository): every script listed in
 * PASSING must keep passing. The scripts are found at $BYWAY_PACKETDRILL, else ../shared/packetdrill next to the
 * repository, else /work/shared/packetdrill; without them the test is skipped and says why (and fails under BYWAY_REQUIRE_PRIVILEGED=1, as in CI). docs/conformance.md
 * lists every script and why the others fail; add a script here when a change makes it pass.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findScripts, runFile } from '../../tools/packetdrill/cli.js';
import { requirePrivileged } from '../helpers/netns.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const candidates = [process.env['BYWAY_PACKETDRILL'], join(repo, '../shared/packetdrill'), '/work/shared/packetdrill'].filter((p): p is string => !!p);
const root = candidates.find((p) => existsSync(join(p, 'scripts')));

export const PASSING = [
  'blocking_io/blocking-read.pkt',
  'close_shutdown/close-local-close-then-remote-fin.pkt',
  'close_shutdown/close-on-syn-sent.pkt',
  'close_shutdown/close-so-linger-onoff-1-linger-0-rst.pkt',
  'close_shutdown/close-unread-data-rst.pkt',
  'close_shutdown/shutdown-rd-close.pkt',
  'close_shutdown/shutdown-rdwr-close.pkt',
  'close_shutdown/shutdown-rdwr-send-queue-ack-close.pkt',
  'close_shutdown/shutdown-wr-close.pkt',
  'close_shutdown/tcp_close_no_rst.pkt',
  'close_shutdown/tcp_disorder_fin_in_FIN_WAIT.pkt',
  'congestion_control/cubic-hystart-delay-min-rtt-jumps-downward.pkt',
  'congestion_control/cwnd-moderation-disorder-no-moderation.pkt',
  'congestion_control/iw10-base-case.pkt',
  'congestion_control/slow-start-ack-per-1pkt.pkt',
  'congestion_control/slow-start-ack-per-2pkt-send-5pkt.pkt',
  'congestion_control/slow-start-ack-per-2pkt.pkt',
  'congestion_control/slow-start-after-idle.pkt',
  'congestion_control/slow-start-app-limited-9-packets-out.pkt',
  'handshake/blocking-accept.pkt',
  'handshake/http-get-nonblocking-ts.pkt',
  'handshake/init_rto_passive_open.pkt',
  'handshake/tcp_basic_client.pkt',
  'handshake/tcp_basic_server.pkt',
  'loss_recovery/cubic-rack-reo-timeout-retrans-failed-incoming-data.pkt',
  'loss_recovery/er-delayed-3pkt-sack.pkt',
  'loss_recovery/er-delayed-get-ack-3pkt-sack.pkt',
  'loss_recovery/er-quick-3pkt-sack.pkt',
  'loss_recovery/fr-4pkt-sack.pkt',
  'loss_recovery/fr-4pkt.pkt',
  'loss_recovery/limited-transmit-no-sack.pkt',
  'loss_recovery/prr-ss-10pkt-lost-1.pkt',
  'loss_recovery/prr-ss-30pkt-lost1_4.pkt',
  'loss_recovery/sack-shift-sacked-2-6-8-3-9-nofack.pkt',
  'loss_recovery/sack-shift-sacked-7-5-6-8-9-fack.pkt',
  'loss_recovery/undo-fr-acks-dropped-then-dsack.pkt',
  'nagle_cork/https_client.pkt',
  'nagle_cork/sockopt_cork_nodelay.pkt',
  'options_mss_ts/fin_tsval.pkt',
  'options_mss_ts/gro-mss-option.pkt',
  'options_mss_ts/invalid_ack.pkt',
  'options_mss_ts/mss-getsockopt-tcp_maxseg-client-ts.pkt',
  'options_mss_ts/mss-getsockopt-tcp_maxseg-server-ts.pkt',
  'options_mss_ts/mss-getsockopt-tcp_maxseg-server.pkt',
  'options_mss_ts/mss-setsockopt-tcp_maxseg-server.pkt',
  'pmtu_icmp/icmp-all-types.pkt',
  'pmtu_icmp/pmtud-10pkt-1460-to-1160.pkt',
  'pmtu_icmp/tcp_advmss_pmtu_ipv4.pkt',
  'receive_window_sack/rcv-rtt-with-timestamps-new.pkt',
  'receive_window_sack/tcp_dsack_mult.pkt',
  'receive_window_sack/tcp_rcv_zero_wnd_fin.pkt',
  'reset_validation/listen-incoming-ack.pkt',
  'reset_validation/listen-incoming-no-tcp-flags.pkt',
  'reset_validation/listen-incoming-rst.pkt',
  'reset_validation/validate-established-no-flags.pkt',
  'tcp_info/tcp-info-rwnd-limited.pkt',
  'timers/user-timeout-probe.pkt',
];

// In CI the scripts must be there: a missing directory fails rather than skipping.
if (root === undefined && requirePrivileged) {
  it('finds the packetdrill scripts (BYWAY_REQUIRE_PRIVILEGED=1)', () => void expect.fail(`not found: ${candidates.join(', ')}; set BYWAY_PACKETDRILL`));
}

describe.skipIf(root === undefined)(`packetdrill scripts (${root ?? `not found: ${candidates.join(', ')}; set BYWAY_PACKETDRILL`})`, () => {
  it('finds the 62 scripts', () => {
    expect(findScripts([join(root!, 'scripts')])).toHaveLength(62);
  });
  it.each(PASSING)('%s passes', (name) => {
    const path = join(root!, 'scripts', name);
    const r = runFile(path);
    expect(r.pass ? 'PASS' : `FAIL line ${r.line}: ${r.message}`).toBe('PASS');
  });
});
