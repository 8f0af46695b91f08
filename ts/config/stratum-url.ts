/**
 * Stratum url schemes: `stratum+tcp://host:port` (or a bare `host:port`, as ckpool
 * writes them) is plain TCP; `stratum+ssl://` and `stratum+tls://` (both spellings are
 * in use by miners and pools) are stratum over TLS. Used for the listening urls
 * (serverurl, nodeserver) and the upstream pools of the proxy modes.
 */

/** Every scheme a stratum url may carry. */
export const STRATUM_SCHEMES = ['stratum+tcp', 'stratum+ssl', 'stratum+tls'] as const;

const TLS_SCHEME = /^\s*stratum\+(ssl|tls):\/\//i;

/** True for a `stratum+ssl://` or `stratum+tls://` url. */
export function isTlsUrl(url: string): boolean {
  return TLS_SCHEME.test(url);
}
