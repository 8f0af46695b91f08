/**
 * What ckpool does with a config value that ckpool-ts refuses, so that every config
 * error says what running the same file under ckpool would have done (the user is
 * usually moving a working ckpool.conf over, and needs to know whether ckpool was
 * quietly ignoring that line all along).
 *
 * Read from ckpool 0.9.9's ckpool.c (parse_config, parse_btcds, json_get_*, main) and
 * connector.c: a key of the wrong type is logged ("Json entry X is not an integer")
 * and ignored, so the default applies; a 0 is "unset" for most numbers; a few values
 * stop ckpool (exit status in brackets); others are used unchecked.
 */
import { DEFAULT_BLOCKPOLL_MS, DEFAULT_HIGHDIFF, DEFAULT_MINDIFF, DEFAULT_NONCE1LENGTH, DEFAULT_STARTDIFF, DEFAULT_UPDATE_INTERVAL_S } from './defaults.js';

const IGNORED = 'ignore it';
const usesDefault = (what: string): string => `ignore it and use ${what}`;

/** Per key (indexes dropped: `btcd[1].url` → `btcd.url`): a value of the wrong JSON type. */
const ON_TYPE: Record<string, string> = {
  btcd: usesDefault('one bitcoind at localhost:8332 with user "user" and pass "pass"'),
  'btcd[]': 'stop with "Invalid config string or missing object for url" (exit 1)',
  'btcd.url': 'stop with "Invalid config string or missing object for url" (exit 1)',
  'btcd.auth': 'stop with "Invalid config string or missing object for auth" (exit 1)',
  'btcd.pass': 'stop with "Invalid config string or missing object for pass" (exit 1)',
  'btcd.notify': usesDefault('false (poll this bitcoind)'),
  'btcd.cookie': 'ignore it (it has no "cookie" key) and stop for want of "auth" (exit 1)',
  btcaddress: 'ignore it, then stop with "Non solo mining must have a btcaddress in config" (exit 0) in pool mode',
  btcsig: usesDefault('no coinbase signature'),
  blockpoll: usesDefault(`${DEFAULT_BLOCKPOLL_MS} ms`),
  donation: usesDefault('0 (no donation)'),
  nonce1length: usesDefault(`${DEFAULT_NONCE1LENGTH}`),
  nonce2length: usesDefault('8 (0 in the proxy modes)'),
  update_interval: usesDefault(`${DEFAULT_UPDATE_INTERVAL_S} s`),
  version_mask: usesDefault('1fffe000'),
  serverurl: usesDefault('0.0.0.0:3333 (3334 in the proxy modes)'),
  'serverurl[]': 'log "Invalid serverurl entry" and then fail to bind it',
  nodeserver: IGNORED,
  'nodeserver[]': 'log "Invalid nodeserver entry" and then fail to bind it',
  trusted: IGNORED,
  'trusted[]': 'log "Invalid trusted server entry" and then fail to bind it',
  upstream: IGNORED,
  mindiff: usesDefault(`${DEFAULT_MINDIFF}`),
  startdiff: usesDefault(`${DEFAULT_STARTDIFF}`),
  highdiff: usesDefault(`${DEFAULT_HIGHDIFF}`),
  maxdiff: usesDefault('0 (no maximum)'),
  logdir: usesDefault('"logs"'),
  maxclients: usesDefault('90% of the open-file limit'),
  dropidle: usesDefault('0 (never drop idle clients; the key is ckpool 1.2\'s, 0.9.9 ignores it anyway)'),
  workers: 'ignore it (a ckpool-ts key)',
  metricsmaxworkers: 'ignore it (a ckpool-ts key)',
  tlscert: 'ignore it (a ckpool-ts key)',
  tlskey: 'ignore it (a ckpool-ts key)',
  apiurl: 'ignore it (a ckpool-ts key)',
  apitoken: 'ignore it (a ckpool-ts key)',
  floodrate: 'ignore it (a ckpool-ts key)',
  floodburst: 'ignore it (a ckpool-ts key)',
  invalidburst: 'ignore it (a ckpool-ts key)',
  maxpending: 'ignore it (a ckpool-ts key)',
  linkmaxpending: 'ignore it (a ckpool-ts key)',
  linkminers: 'ignore it (a ckpool-ts key)',
  notifyfanout: 'ignore it (a ckpool-ts key)',
  'proxy.insecure': 'ignore it (a ckpool-ts key)',
  proxy: 'ignore it, then stop with "No proxy entries found in config file" (exit 0) in the proxy modes',
  'proxy[]': 'stop with "Invalid config string or missing object for url" (exit 1)',
  'proxy.url': 'stop with "Invalid config string or missing object for url" (exit 1)',
  'proxy.auth': 'stop with "Invalid config string or missing object for auth" (exit 1)',
  'proxy.pass': usesDefault('an empty password'),
  redirecturl: 'ignore it, then stop with "No redirect entries found in config file" (exit 0) in redirector mode',
  'redirecturl[]': 'stop with "Invalid redirecturl entry" (exit 1)',
  zmqblock: usesDefault('tcp://127.0.0.1:28332'),
};

/** Per key: a value of the right type that ckpool-ts still refuses. */
const ON_RANGE: Record<string, string> = {
  metricsmaxworkers: 'ignore it (a ckpool-ts key)',
  apitoken: 'ignore it (ckpool has no HTTP API)',
  btcd: usesDefault('one bitcoind at localhost:8332 with user "user" and pass "pass"'),
  btcaddress: 'pass it to bitcoind\'s validateaddress and stop with "Invalid btcaddress" (exit 1)',
  blockpoll: 'sleep a negative time between polls, that is poll getbestblockhash without pause',
  donation: 'clamp it to 0 .. 99.9 (below 0.1 means 0)',
  nonce1length: 'stop with "Invalid nonce1length specified, must be 2~8" (exit 0)',
  nonce2length: 'stop with "Invalid nonce2length specified, must be 2~8" (exit 0)',
  update_interval: 'use it unchecked: a template refresh timer that never waits',
  serverurl: usesDefault('0.0.0.0:3333 (3334 in the proxy modes)'),
  mindiff: 'use it unchecked as the vardiff floor, which then never holds',
  startdiff: 'use it unchecked as every new miner\'s difficulty',
  highdiff: 'use it unchecked on the highdiff ports',
  maxdiff: 'use it unchecked (every miner clamped to it, even below mindiff; a negative one: no maximum)',
  logdir: 'stop with "Failed to make log directory" (exit 1)',
  maxclients: 'keep it and refuse every connection (its check is clients >= maxclients); 0 means 90% of the open-file limit',
  dropidle: 'use it unchecked: a negative time drops every client idle for over a minute (0 = never)',
  proxy: 'stop with "No proxy entries found in config file" (exit 0)',
  'proxy.auth': 'send the empty name upstream, which refuses it',
  redirecturl: 'stop with "No redirect entries found in config file" (exit 0)',
  zmqblock: 'fail to connect its ZMQ subscriber and rely on polling getbestblockhash',
  'btcd.cookie': 'ignore it (it has no "cookie" key)',
};

/** A url ckpool cannot use, by key: where it finds out. */
const ON_URL: Record<string, string> = {
  'btcd.url': 'fail to connect to it and retry for ever ("Failed to connect socket")',
  serverurl: 'log "Failed to extract resolved url" and run without a listening socket (no miner can connect)',
  nodeserver: 'log "Failed to extract resolved url" and run without a listening socket',
  trusted: 'log "Failed to extract resolved url" and run without a listening socket',
  upstream: 'fail to connect to the upstream and retry for ever',
  'proxy.url': 'fail to connect to that upstream and retry for ever',
  redirecturl: 'stop with "Invalid redirecturl entry" (exit 1)',
  apiurl: 'ignore it (ckpool has no HTTP API)',
};

/** `btcd[1].url` → `btcd.url`; `serverurl[0]` → `serverurl[]` (an array item). */
export function baseKey(key: string): string {
  return key.replace(/\[\d+\]\./g, '.').replace(/\[\d+\]$/, '[]');
}

/** "ckpool would …" for a config error about `key`. */
export function ckpoolWould(key: string, problem: 'type' | 'range' | 'url'): string {
  const base = baseKey(key);
  const table = problem === 'type' ? ON_TYPE : problem === 'range' ? ON_RANGE : ON_URL;
  const text = table[base] ?? table[base.replace(/\[\]$/, '')] ?? (problem === 'type' ? ON_TYPE[base.replace(/\[\]$/, '')] : undefined);
  return `ckpool would ${text ?? 'use it unchecked'}`;
}

/** For the whole-file errors, a key given twice, and missing keys. */
export const CKPOOL_ON_SYNTAX = 'ckpool would warn "Json decode error" and start with every key at its default';
export const CKPOOL_ON_DUPLICATE = 'ckpool 0.9.9 (jansson) would silently use the later one';
export const CKPOOL_ON_MISSING: Record<string, string> = {
  btcaddress: 'ckpool would stop with "Non solo mining must have a btcaddress in config, aborting!" and exit status 0',
  proxy: 'ckpool would stop with "No proxy entries found in config file" and exit status 0',
  redirecturl: 'ckpool would stop with "No redirect entries found in config file" and exit status 0',
  upstream: 'ckpool would try to connect to an upstream it does not have and fail',
  tlscert: 'ckpool has no TLS: it would fail to bind a stratum+ssl:// url',
  tlskey: 'ckpool has no TLS: it would fail to bind a stratum+ssl:// url',
};
