/**
 * Where a registry may make crimux connect besides the endpoint the operator configured. crimux runs as root on
 * the node, so a token realm or a redirect chosen by a registry must not reach the node's own services: loopback,
 * link-local (169.254.0.0/16 and fe80::/10, where cloud metadata services answer), the unspecified address, and
 * the metadata addresses outside those ranges. An address of the registry endpoint itself stays allowed (the test
 * registry and many mirrors live on loopback; their realm is the same host).
 *
 * The check runs at connect time on every resolved address (a custom `lookup` for names, a direct check for IP
 * literals), so DNS answers that change between a check and the connection (rebinding) cannot slip through.
 * Through a proxy the proxy resolves the name, so the check is the best one possible here (checkResolved).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { PermissionDeniedError } from '../errors';

const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet('127.0.0.0', 8, 'ipv4'); // loopback
FORBIDDEN.addSubnet('0.0.0.0', 8, 'ipv4'); // "this host"
FORBIDDEN.addSubnet('169.254.0.0', 16, 'ipv4'); // link-local: AWS, GCP, Azure, OpenStack metadata
FORBIDDEN.addAddress('100.100.100.200', 'ipv4'); // Alibaba Cloud metadata
FORBIDDEN.addAddress('::1', 'ipv6');
FORBIDDEN.addAddress('::', 'ipv6');
FORBIDDEN.addSubnet('fe80::', 10, 'ipv6'); // link-local
FORBIDDEN.addAddress('fd00:ec2::254', 'ipv6'); // AWS metadata over IPv6

/** True for an address a registry may not send crimux to (see the file comment). */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return FORBIDDEN.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** True for loopback addresses and the name localhost (where plain http never leaves the machine). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const family = isIP(h);
  if (family === 4) return h.startsWith('127.');
  return family === 6 && (h === '::1' || /^::ffff:127\./.test(h));
}

function refused(hostname: string, address: string): PermissionDeniedError {
  return new PermissionDeniedError(
    `registry sent crimux to ${hostname}, which resolves to ${address}: loopback, link-local and metadata ` +
      'addresses are refused unless they are the registry endpoint itself',
    { context: { host: hostname } },
  );
}

/** The addresses of the endpoint host (an IP literal is itself); resolution failures allow nothing extra. */
export function endpointAddresses(hostname: string): Promise<Set<string>> {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (isIP(h)) return Promise.resolve(new Set([h]));
  return new Promise((resolve) => {
    dnsLookup(h, { all: true }, (err, addrs) => resolve(new Set(err ? [] : addrs.map((a) => a.address))));
  });
}

/** Throws for an IP-literal host that is forbidden and not one of `allowed`; names are checked by guardedLookup. */
export function checkLiteral(hostname: string, allowed: ReadonlySet<string>): void {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (isIP(h) && isForbiddenAddress(h) && !allowed.has(h)) throw refused(hostname, h);
}

/** A `lookup` for http.request that drops forbidden addresses (unless allowed) and fails when none is left. */
export function guardedLookup(allowed: ReadonlySet<string>): LookupFunction {
  return ((hostname: string, options: LookupAllOptions, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addrs: LookupAddress[]) => {
      if (err) return callback(err);
      const ok = addrs.filter((a) => !isForbiddenAddress(a.address) || allowed.has(a.address));
      const first = ok[0];
      if (!first) return callback(refused(hostname, addrs[0]?.address ?? 'nothing'));
      if (options.all) return callback(null, ok);
      callback(null, first.address, first.family);
    });
  }) as unknown as LookupFunction;
}

/**
 * The check for a hop that goes through a proxy, where the proxy resolves the name: refused when the name resolves
 * HERE to any forbidden address that is not allowed. A name that does not resolve here passes (behind a proxy the
 * node often cannot resolve outside names); an IP literal is checked by checkLiteral.
 */
export function checkResolved(hostname: string, allowed: ReadonlySet<string>): Promise<void> {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (isIP(h)) {
    checkLiteral(h, allowed);
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    dnsLookup(h, { all: true }, (err, addrs) => {
      const bad = err ? undefined : addrs.find((a) => isForbiddenAddress(a.address) && !allowed.has(a.address));
      if (bad) reject(refused(hostname, bad.address));
      else resolve();
    });
  });
}
