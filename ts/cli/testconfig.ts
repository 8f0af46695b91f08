/**
 * `ckpool -T` / `--testconfig` (ckpool 1.2): load and check the config, print what it
 * resolved to, and exit 0 — or exit 1 with the error — without starting anything: no
 * sockdir, no log directory, no bitcoind, no listening socket.
 *
 * Like ckpool's report_config, one stable `key = value` line per setting on stdout (so
 * two versions' reading of one file can be diffed), then "Configuration check of FILE
 * passed". Warnings go to stderr. Passwords are not printed.
 */
import { CONFIG_KEY, type CkpoolConfig } from '../config/types.js';
import type { ResolvedOptions } from './ckpool.js';

function show(v: unknown): string {
  if (typeof v === 'string') return v === '' ? '(none)' : v;
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

/** The `key = value` lines for a loaded config (ckpool's key names, file order of CONFIG_KEY). */
export function configReport(config: CkpoolConfig, options: Pick<ResolvedOptions, 'mode' | 'name' | 'sockdir' | 'loglevel'>): string[] {
  const lines = [
    `mode = ${options.mode}`,
    `name = ${options.name}`,
    `config = ${config.source}`,
    `socket_dir = ${options.sockdir}`,
    `loglevel = ${options.loglevel}`,
  ];
  for (const [field, key] of Object.entries(CONFIG_KEY) as [keyof typeof CONFIG_KEY, string][]) {
    const v = config[field];
    if (field === 'btcd') {
      lines.push(`btcds = ${config.btcd.length}`);
      config.btcd.forEach((b, i) => lines.push(`btcd[${i}] = ${b.url} ${b.cookie !== undefined ? `cookie=${b.cookie}` : `auth=${b.auth}`} notify=${b.notify ? 1 : 0}`));
    } else if (field === 'proxy') {
      lines.push(`proxies = ${config.proxy.length}`);
      config.proxy.forEach((p, i) => lines.push(`proxy[${i}] = ${p.url} auth=${p.auth}`));
    } else if (field === 'versionMask') {
      lines.push(`${key} = ${config.versionMask.toString(16).padStart(8, '0')}`);
    } else if (Array.isArray(v)) {
      lines.push(`${key}s = ${v.length}`);
      v.forEach((u, i) => lines.push(`${key}[${i}] = ${show(u)}`));
    } else {
      lines.push(`${key} = ${v === undefined ? '(none)' : show(v)}`);
    }
  }
  return lines;
}
