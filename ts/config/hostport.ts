/**
 * `host:port` strings as ckpool.conf writes them (serverurl, btcd url, proxy url, ...).
 *
 * ckpool falls back to port 80 when a url has no port; a stratum or RPC service on 80 is
 * almost certainly a typo, so here a port is required.
 */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parse `[scheme://]host:port` (IPv6 hosts in brackets). `schemes` lists the prefixes
 * accepted for this key (e.g. `http` for btcd, `stratum+tcp` for proxy). Returns a
 * reason string on failure so the caller can attach the key name and line.
 */
export function parseHostPort(text: string, schemes: readonly string[] = []): HostPort | string {
  let rest = text.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (scheme) {
    if (!schemes.includes(scheme[1]!.toLowerCase())) {
      return schemes.length
        ? `unsupported scheme "${scheme[1]}://" (use ${schemes.map((s) => `${s}://`).join(' or ')} or none)`
        : `no "${scheme[1]}://" prefix is allowed here`;
    }
    rest = rest.slice(scheme[0].length);
  }
  if (rest.includes('@')) return 'credentials in the url are not supported (use the auth/pass keys)';
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  let host: string;
  let portText: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0 || rest[close + 1] !== ':') return 'expected [ipv6]:port';
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) return 'missing ":port"';
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(':')) return 'IPv6 addresses must be written in brackets, like [::1]:3333';
  }
  if (host === '') return 'missing host';
  if (/[\s/@]/.test(host)) return `invalid host "${host}"`;
  if (!/^[0-9]{1,5}$/.test(portText)) return `invalid port "${portText}"`;
  const port = Number(portText);
  if (port < 1 || port > 65535) return `port ${port} is out of range 1..65535`;
  return { host, port };
}
