/**
 * Stratum V2 listen urls (`sv2url`, ckpool 1.2): `host:port`, `host` (SV2's default port
 * 3336) or `stratum2+tcp://host[:port]`; normalised to a bare `host:port` so the rest of
 * the config code (and the listeners) read them like serverurl entries.
 */
export const SV2_DEFAULT_PORT = 3336;

export function normaliseSv2Url(text: string): string {
  let s = text.trim().replace(/^stratum2\+tcp:\/\//i, '');
  if (s.endsWith('/')) s = s.slice(0, -1);
  const hasPort = s.startsWith('[') ? /\]:[0-9]+$/.test(s) : /:[0-9]*$/.test(s);
  return hasPort ? s : `${s}:${SV2_DEFAULT_PORT}`;
}
