/**
 * What a webhook URL may point at. A URL must be http(s), and every address its host resolves to must be a
 * public one: not loopback, private (RFC 1918, fc00::/7, the deprecated site-local fec0::/10), link-local
 * (169.254.0.0/16, where cloud metadata services answer, fe80::/10, any zone-scoped address), unspecified,
 * CGNAT (100.64.0.0/10), multicast, reserved or documentation ranges, nor an IPv4-mapped, SIIT or NAT64 form of
 * one; the tunnelling prefixes 6to4 (2002::/16, 192.88.99.0/24) and Teredo (2001::/32), which reach IPv4 hosts
 * through a relay, are refused as a whole. The check is made at creation and update, and again before every
 * attempt, which then connects to the very address checked (`pinnedLookup`), so a name that resolves elsewhere
 * in between (DNS rebinding) reaches nothing it should not. A refusal of a name does not say which address it
 * resolved to (a workspace learns nothing of the operator's internal DNS). `OPENCVM_WEBHOOK_ALLOW_PRIVATE=1`
 * lifts the address rule (a receiver on the same machine or network).
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['192.88.99.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['2001:db8::', 32], ['100::', 64],
  ['::', 96], ['::ffff:0:0:0', 96], ['64:ff9b:1::', 48], ['2002::', 16], ['2001::', 32],
] as const) blocked.addSubnet(net, bits, 'ipv6');

/** The IPv4 address an IPv6 one carries (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`), if any. */
function embeddedIpv4(v6: string): string | null {
  const norm = new URL(`http://[${v6}]/`).hostname.slice(1, -1);
  const m = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(norm);
  if (!m) return null;
  const hi = parseInt(m[1], 16);
  const lo = parseInt(m[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Why `address` is not a public address, or null if it is. */
export function nonPublicReason(address: string): string | null {
  // a zone-scoped address (fe80::1%eth0) names an interface of this machine's link
  if (address.includes('%')) return `${address} is a zone-scoped (link-local) address`;
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4') ? `${address} is not a public address (loopback, private, link-local, CGNAT, multicast or reserved)` : null;
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    if (v4) return nonPublicReason(v4) ? `${address} carries ${v4}, which is not a public address` : null;
    return blocked.check(address, 'ipv6') ? `${address} is not a public address (loopback, unique-local, link-local, multicast or reserved)` : null;
  }
  return `${address} is not an IP address`;
}

export type UrlCheck = { ok: true; url: URL; address: string; family: 4 | 6 } | { ok: false; problem: string };

/** How long a name's lookup may take by default, ms. */
const LOOKUP_TIMEOUT_MS = 5000;

/** `lookup(host, {all})`, or a rejection with code `ETIMEOUT` after `timeoutMs`. */
function lookupWithin(host: string, timeoutMs: number): Promise<{ address: string; family: number }[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('lookup timed out'), { code: 'ETIMEOUT' })), timeoutMs);
  });
  return Promise.race([lookup(host, { all: true, verbatim: true }), late]).finally(() => clearTimeout(timer));
}

/**
 * Check a webhook URL: its form, then (unless `allowPrivate`) every address its host resolves to, the lookup
 * bounded by `lookupTimeoutMs`. The answer names the address to connect to (the first one resolved).
 */
export async function checkWebhookUrl(text: string, allowPrivate: boolean, lookupTimeoutMs = LOOKUP_TIMEOUT_MS): Promise<UrlCheck> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, problem: 'it is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, problem: `its scheme is ${url.protocol.slice(0, -1)}, not http or https` };
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: { address: string; family: number }[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await lookupWithin(host, lookupTimeoutMs);
    } catch (e) {
      return { ok: false, problem: `its host ${host} does not resolve (${(e as { code?: string }).code ?? 'lookup failed'})` };
    }
    if (!addresses.length) return { ok: false, problem: `its host ${host} resolves to no address` };
  }
  if (!allowPrivate) {
    for (const a of addresses) {
      const why = nonPublicReason(a.address);
      if (!why) continue;
      // an address typed in the URL is named; one a name resolves to is not (the operator's DNS stays private)
      return { ok: false, problem: isIP(host) ? `its host ${why}` : `its host ${host} resolves to an address that is not public (loopback, private, link-local, CGNAT, multicast or reserved)` };
    }
  }
  return { ok: true, url, address: addresses[0].address, family: addresses[0].family === 6 ? 6 : 4 };
}

/** A `lookup` for node:http that answers the address checked, whatever name it is asked for. */
export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction;
}
