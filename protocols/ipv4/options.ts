/**
 * The IPv4 options area (RFC 791 section 3.1), checked before a packet is accepted. byway sends no options and
 * acts on none, but a malformed options area means a malformed packet, and source routes are refused, as Linux
 * refuses them with its default accept_source_route = 0 (RFC 1122 3.3.5 lets a host choose; RFC 7126 4.3 and 4.4
 * advise dropping LSRR and SSRR). Pure: reads `header` (the whole IPv4 header), never throws.
 */

export const Ipv4Option = {
  EndOfList: 0,
  NoOperation: 1,
  LooseSourceRoute: 131,
  StrictSourceRoute: 137,
} as const;

/** 'ok', 'malformed' (a length under 2 or past the header), or 'source-route' (LSRR or SSRR present). */
export type Ipv4OptionsCheck = 'ok' | 'malformed' | 'source-route';

export function checkIpv4Options(header: Uint8Array, headerLen: number): Ipv4OptionsCheck {
  let i = 20;
  let sourceRoute = false;
  while (i < headerLen) {
    const type = header[i]!;
    if (type === Ipv4Option.EndOfList) break;
    if (type === Ipv4Option.NoOperation) {
      i++;
      continue;
    }
    // Every other option is type, length (counting both), data.
    if (i + 1 >= headerLen) return 'malformed';
    const len = header[i + 1]!;
    if (len < 2 || i + len > headerLen) return 'malformed';
    if (type === Ipv4Option.LooseSourceRoute || type === Ipv4Option.StrictSourceRoute) sourceRoute = true;
    i += len;
  }
  return sourceRoute ? 'source-route' : 'ok';
}
