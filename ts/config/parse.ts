/**
 * ckpool.conf → CkpoolConfig.
 *
 * Compatible with ckpool 0.9.9's keys, defaults and "text after the closing brace is
 * ignored". Stricter where ckpool silently falls back to defaults: a syntax error, a
 * wrong type, an out-of-range value or a missing required key is a fatal error naming
 * the key and the line. Unknown keys are only warnings, because ckpool ignores them and
 * configs written for newer ckpool versions (e.g. 1.2's `passthroughserver`) must
 * still load. Problems are reported in file order: the first one in the file wins.
 */
import { CkpoolError } from '../errors.js';
import { redact } from '../log/logger.js';
import {
  DEFAULT_BLOCKPOLL_MS,
  DEFAULT_BTCD,
  DEFAULT_HIGHDIFF,
  DEFAULT_LOGDIR,
  DEFAULT_MAXDIFF,
  DEFAULT_MINDIFF,
  DEFAULT_NONCE1LENGTH,
  DEFAULT_STARTDIFF,
  DEFAULT_UPDATE_INTERVAL_S,
  DEFAULT_VERSION_MASK,
  DEFAULT_ZMQBLOCK,
  MAX_BTCSIG_BYTES,
  MAX_DONATION,
  MIN_DONATION,
  defaultNonce2Length,
  defaultServerUrl,
  maxClientsFor,
  openFileLimit,
  autoWorkers,
} from './defaults.js';
import { CKPOOL_ON_DUPLICATE, CKPOOL_ON_MISSING, CKPOOL_ON_SYNTAX, ckpoolWould } from './ckpool-would.js';
import { configError, type ConfigError } from './errors.js';
import { parseHostPort } from './hostport.js';
import { STRATUM_SCHEMES, isTlsUrl } from './stratum-url.js';
import { JsonSyntaxError, kindName, parseJsonPrefix, type JsonEntry, type JsonNode } from './json.js';
import { suggestKey } from './suggest.js';
import { normaliseSv2Url } from './sv2.js';
import { readNotifications, readNotifyQueue, type NotificationEntry } from './notifications.js';
import {
  CONFIG_KEYS,
  isProxyMode,
  type BtcdEntry,
  type CkpoolConfig,
  type ConfigKey,
  type ConfigWarning,
  type Mode,
  type ProxyEntry,
} from './types.js';

export interface ParseOptions {
  /** Trusted remote mode (-t): `upstream` becomes required. */
  readonly trusted?: boolean;
  /** Soft open-file limit for the maxclients default and cap; read from /proc when absent. */
  readonly openFileLimit?: number;
}

/** Parse the text of a ckpool.conf. `sourceName` is used in messages (usually the path). */
export function parseConfig(text: string, mode: Mode, sourceName: string, opts: ParseOptions = {}): CkpoolConfig {
  let root: JsonNode;
  try {
    root = parseJsonPrefix(text).root;
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      throw configError('CKP_ERR_CONFIG_SYNTAX', { file: sourceName, line: e.pos.line, key: '' },
        sourceName, e.pos.line, e.pos.col, e.message, CKPOOL_ON_SYNTAX);
    }
    throw e;
  }
  if (root.kind !== 'object') {
    throw configError('CKP_ERR_CONFIG_NOT_OBJECT', { file: sourceName, line: root.pos.line, key: '' },
      sourceName, root.pos.line, kindName(root), CKPOOL_ON_SYNTAX);
  }
  return build(root.entries, mode, sourceName, opts, false);
}

/**
 * The config used when no file was given and `<name>.conf` does not exist: all
 * defaults, `embeddedDemo: true`, and an empty `btcd` for the demo starter to fill.
 */
export function embeddedDemoConfig(mode: Mode, opts: ParseOptions = {}): CkpoolConfig {
  return build([], mode, '<embedded demo>', opts, true);
}

// ---------------------------------------------------------------------------------

/** Collects warnings and builds located errors for one file. */
class Ctx {
  readonly warnings: ConfigWarning[] = [];
  constructor(readonly file: string, readonly mode: Mode) {}

  warn(key: string, line: number, message: string): void {
    const where = line > 0 ? `${this.file} line ${line}` : this.file;
    this.warnings.push({ key, line, message: `${where}: ${message}` });
  }

  typeError(key: string, node: JsonNode, expected: string): ConfigError {
    const got = node.kind === 'number' ? `${kindName(node)} (${node.raw})` : kindName(node);
    return configError('CKP_ERR_CONFIG_TYPE', { file: this.file, line: node.pos.line, key },
      this.file, node.pos.line, key, expected, got, ckpoolWould(key, 'type'));
  }

  rangeError(key: string, line: number, expected: string, got: string): ConfigError {
    return configError('CKP_ERR_CONFIG_RANGE', { file: this.file, line, key }, this.file, line, key, expected, got,
      ckpoolWould(key, 'range'));
  }
}

/** Everything a key handler may set; merged over the defaults at the end. */
interface Draft {
  btcd?: BtcdEntry[];
  btcaddress?: string;
  btcsig?: string;
  blockpoll?: number;
  donation?: number;
  nonce1length?: number;
  nonce2length?: number;
  updateInterval?: number;
  versionMask?: number;
  serverurl?: string[];
  nodeserver?: string[];
  tlscert?: string;
  tlskey?: string;
  trusted?: string[];
  upstream?: string;
  mindiff?: number;
  startdiff?: number;
  highdiff?: number;
  maxdiff?: number;
  logdir?: string;
  maxclients?: number;
  dropidle?: number;
  floodrate?: number;
  floodburst?: number;
  invalidburst?: number;
  maxpending?: number;
  linkmaxpending?: number;
  linkminers?: number;
  notifyfanout?: boolean;
  workers?: number;
  proxy?: ProxyEntry[];
  redirecturl?: string[];
  zmqblock?: string;
  apiurl?: string;
  apitoken?: string;
  notifications?: NotificationEntry[];
  notifyqueue?: number;
  metricsmaxworkers?: number;
  sv2url?: string[];
  sv2AuthorityKey?: string;
  sv2StaticKey?: string;
}

type Handler = (ctx: Ctx, node: JsonNode, draft: Draft) => void;

const INT_MAX = 2 ** 31 - 1;

// --- value readers ------------------------------------------------------------------

function readString(ctx: Ctx, key: string, node: JsonNode): string {
  if (node.kind !== 'string') throw ctx.typeError(key, node, 'a string');
  return node.value;
}

function readNonEmptyString(ctx: Ctx, key: string, node: JsonNode, what: string): string {
  const s = readString(ctx, key, node);
  if (s.trim() === '') throw ctx.rangeError(key, node.pos.line, what, '""');
  return s;
}

function readBool(ctx: Ctx, key: string, node: JsonNode): boolean {
  if (node.kind !== 'boolean') throw ctx.typeError(key, node, 'true or false');
  return node.value;
}

/**
 * ckpool's main() treats 0 as "not set" for most numbers (`if (!ckp.blockpoll) ckp.blockpoll = 100;`),
 * so a working ckpool.conf may say `"blockpoll": 0`: read as undefined (the default).
 */
function readIntOrUnset(ctx: Ctx, key: string, node: JsonNode, min: number, max: number, rangeText?: string): number | undefined {
  if (node.kind === 'number' && node.value === 0) return undefined;
  return readInt(ctx, key, node, min, max, rangeText ? `${rangeText} (or 0: the default)` : undefined);
}

/** The same for the real-valued difficulties. */
function readNumberOrUnset(ctx: Ctx, key: string, node: JsonNode, ok: (v: number) => boolean, rangeText: string): number | undefined {
  if (node.kind === 'number' && node.value === 0) return undefined;
  return readNumber(ctx, key, node, ok, `${rangeText} (or 0: the default)`);
}

function readInt(ctx: Ctx, key: string, node: JsonNode, min: number, max: number, rangeText?: string): number {
  if (node.kind !== 'number') throw ctx.typeError(key, node, 'an integer');
  // `2.0` is accepted: jansson would call it a real, but its meaning is not in doubt.
  if (!Number.isInteger(node.value)) throw ctx.typeError(key, node, 'an integer');
  if (node.value < min || node.value > max) {
    throw ctx.rangeError(key, node.pos.line, rangeText ?? `between ${min} and ${max}`, node.raw);
  }
  return node.value;
}

/** Any JSON number, integer or real (ckpool insists on one or the other per key; we do not). */
function readNumber(ctx: Ctx, key: string, node: JsonNode, ok: (v: number) => boolean, rangeText: string): number {
  if (node.kind !== 'number') throw ctx.typeError(key, node, 'a number');
  if (!Number.isFinite(node.value) || !ok(node.value)) throw ctx.rangeError(key, node.pos.line, rangeText, node.raw);
  return node.value;
}

/** `host:port`, validated; the original string is kept (it is what users recognise). */
function readHostPort(ctx: Ctx, key: string, node: JsonNode, schemes: readonly string[] = []): string {
  const s = readString(ctx, key, node);
  const parsed = parseHostPort(s, schemes);
  if (typeof parsed === 'string') {
    const shown = JSON.stringify(redact(s.includes('@') ? s.replace(/^[^@]*@/, '***@') : s));
    throw configError('CKP_ERR_CONFIG_URL', { file: ctx.file, line: node.pos.line, key },
      ctx.file, node.pos.line, key, `${shown}: ${parsed}`, ckpoolWould(key, 'url'));
  }
  return s;
}

/** ckpool's url lists: a single string or an array of strings. */
function readHostPortList(ctx: Ctx, key: string, node: JsonNode, allowEmpty: boolean, schemes: readonly string[] = []): string[] {
  if (node.kind === 'string') return [readHostPort(ctx, key, node, schemes)];
  if (node.kind !== 'array') throw ctx.typeError(key, node, 'a "host:port" string or an array of them');
  if (!allowEmpty && node.items.length === 0) {
    throw ctx.rangeError(key, node.pos.line, 'a non-empty list of "host:port" strings', '[]');
  }
  return node.items.map((item, i) => readHostPort(ctx, `${key}[${i}]`, item, schemes));
}

/** Walk an object's entries, rejecting duplicates and warning about unknown keys. */
function entriesOf(ctx: Ctx, prefix: string, entries: readonly JsonEntry[], known: readonly string[]): Map<string, JsonEntry> {
  const seen = new Map<string, JsonEntry>();
  for (const e of entries) {
    const name = prefix ? `${prefix}.${e.key}` : e.key;
    const first = seen.get(e.key);
    if (first) {
      // JSON.parse and jansson silently keep one of the two; for a payout address
      // or a password that is too surprising to allow.
      throw configError('CKP_ERR_CONFIG_DUPLICATE', { file: ctx.file, line: e.keyPos.line, key: name },
        ctx.file, e.keyPos.line, name, first.keyPos.line, CKPOOL_ON_DUPLICATE);
    }
    seen.set(e.key, e);
    if (!known.includes(e.key)) {
      const guess = suggestKey(e.key, known);
      ctx.warn(name, e.keyPos.line,
        `unknown key "${name}" ignored${guess ? ` (did you mean "${prefix ? `${prefix}.` : ''}${guess}"?)` : ''}`);
    }
  }
  return seen;
}

/**
 * The same listen address twice: bound once, with a warning. Both ckpool versions
 * fail on it (0.9.9 binds the first, then retries the second every 5 s for two
 * minutes and its connector gives up; 1.2 refuses the config), but the intent is
 * plain, so ckpool-ts just binds it once.
 */
function uniqueUrls(ctx: Ctx, key: string, node: JsonNode, urls: string[]): string[] {
  const out: string[] = [];
  const seen = new Map<string, number>();
  urls.forEach((u, i) => {
    const hp = parseHostPort(u, STRATUM_SCHEMES);
    // a TLS and a plain url on one port are two listeners (which then clash at bind time)
    const id = typeof hp === 'string' ? u : `${isTlsUrl(u) ? 'tls:' : ''}${hp.host.toLowerCase()}:${hp.port}`;
    const first = seen.get(id);
    if (first === undefined) {
      seen.set(id, i);
      out.push(u);
      return;
    }
    const line = node.kind === 'array' ? node.items[i]!.pos.line : node.pos.line;
    ctx.warn(`${key}[${i}]`, line, `${key}[${i}] ${JSON.stringify(u)} repeats ${key}[${first}]: bound once (ckpool 0.9.9 would ` +
      'bind it once, retry the second bind every 5 s and stop its connector after two minutes; ckpool 1.2 refuses the config)');
  });
  return out;
}

// --- btcd and proxy entries --------------------------------------------------------

const BTCD_KEYS = ['url', 'auth', 'pass', 'notify', 'cookie'] as const;
const PROXY_KEYS = ['url', 'auth', 'pass', 'insecure'] as const;

function readBtcd(ctx: Ctx, node: JsonNode): BtcdEntry[] {
  if (node.kind !== 'array') throw ctx.typeError('btcd', node, 'an array of {"url", "auth", "pass"} objects');
  if (node.items.length === 0) {
    throw ctx.rangeError('btcd', node.pos.line, 'a non-empty array (leave it out to use localhost:8332)', '[]');
  }
  return node.items.map((item, i) => {
    const name = `btcd[${i}]`;
    if (item.kind !== 'object') throw ctx.typeError(name, item, 'an object {"url", "auth", "pass"}');
    const line = item.pos.line;
    const keys = entriesOf(ctx, name, item.entries, BTCD_KEYS);
    const get = (k: string) => keys.get(k)?.value;
    const urlNode = get('url');
    if (!urlNode) {
      throw configError('CKP_ERR_CONFIG_ENTRY_FIELD', { file: ctx.file, line, key: `${name}.url` }, ctx.file, line, name, 'url',
        ckpoolWould(`${name}.url`, 'type'));
    }
    const url = readHostPort(ctx, `${name}.url`, urlNode, ['http']);
    const authNode = get('auth');
    const passNode = get('pass');
    const cookieNode = get('cookie');
    const auth = authNode && readString(ctx, `${name}.auth`, authNode);
    const pass = passNode && readString(ctx, `${name}.pass`, passNode);
    const cookie = cookieNode && readNonEmptyString(ctx, `${name}.cookie`, cookieNode, 'the path of bitcoind\'s .cookie file');
    const notifyNode = get('notify');
    const notify = notifyNode ? readBool(ctx, `${name}.notify`, notifyNode) : false;
    const authErr = (detail: string) =>
      configError('CKP_ERR_CONFIG_BTCD_AUTH', { file: ctx.file, line, key: name }, ctx.file, line, name, detail,
        ckpoolWould(`${name}.${auth === undefined ? 'auth' : 'pass'}`, 'type'));
    if (cookie !== undefined) {
      if (auth !== undefined || pass !== undefined) throw authErr(', not both');
      return { url, cookie, notify, line };
    }
    if (auth === undefined && pass === undefined) throw authErr('');
    if (auth === undefined) throw authErr(' (it has "pass" but no "auth")');
    if (pass === undefined) throw authErr(' (it has "auth" but no "pass")');
    return { url, auth, pass, notify, line };
  });
}

function readProxies(ctx: Ctx, node: JsonNode): ProxyEntry[] {
  if (node.kind !== 'array') throw ctx.typeError('proxy', node, 'an array of {"url", "auth", "pass"} objects');
  return node.items.map((item, i) => {
    const name = `proxy[${i}]`;
    if (item.kind !== 'object') throw ctx.typeError(name, item, 'an object {"url", "auth", "pass"}');
    const line = item.pos.line;
    const keys = entriesOf(ctx, name, item.entries, PROXY_KEYS);
    const required = (k: 'url' | 'auth'): JsonNode => {
      const v = keys.get(k)?.value;
      if (!v) {
        throw configError('CKP_ERR_CONFIG_ENTRY_FIELD', { file: ctx.file, line, key: `${name}.${k}` }, ctx.file, line, name, k,
          ckpoolWould(`${name}.${k}`, 'type'));
      }
      return v;
    };
    const url = readHostPort(ctx, `${name}.url`, required('url'), STRATUM_SCHEMES);
    const auth = readNonEmptyString(ctx, `${name}.auth`, required('auth'), 'the upstream username');
    const passNode = keys.get('pass')?.value;
    const pass = passNode ? readString(ctx, `${name}.pass`, passNode) : '';
    const insecureNode = keys.get('insecure')?.value;
    const insecure = insecureNode ? readBool(ctx, `${name}.insecure`, insecureNode) : false;
    if (insecure && !isTlsUrl(url)) {
      ctx.warn(`${name}.insecure`, insecureNode!.pos.line, `${name}.insecure has no effect: ${JSON.stringify(url)} is not a stratum+ssl:// or stratum+tls:// url`);
    }
    return insecure ? { url, auth, pass, insecure, line } : { url, auth, pass, line };
  });
}

// --- one handler per top-level key ---------------------------------------------------

/** Cut to at most `max` bytes of UTF-8 without splitting a character. */
function truncateUtf8(s: string, max: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

const ZMQ_ENDPOINT = /^(tcp|ipc|inproc|pgm|epgm|ws|wss):\/\/\S+$/;

const HANDLERS: Record<ConfigKey, Handler> = {
  btcd: (ctx, node, d) => { d.btcd = readBtcd(ctx, node); },
  btcaddress: (ctx, node, d) => { d.btcaddress = readNonEmptyString(ctx, 'btcaddress', node, 'a bitcoin address').trim(); },
  btcsig: (ctx, node, d) => {
    const sig = readString(ctx, 'btcsig', node);
    if (Buffer.byteLength(sig, 'utf8') > MAX_BTCSIG_BYTES) {
      d.btcsig = truncateUtf8(sig, MAX_BTCSIG_BYTES);
      ctx.warn('btcsig', node.pos.line,
        `btcsig ${JSON.stringify(sig)} too long, truncating to ${MAX_BTCSIG_BYTES} bytes: ${JSON.stringify(d.btcsig)}`);
    } else {
      d.btcsig = sig;
    }
  },
  blockpoll: (ctx, node, d) => { d.blockpoll = readIntOrUnset(ctx, 'blockpoll', node, 1, INT_MAX, 'a positive number of milliseconds'); },
  donation: (ctx, node, d) => {
    const v = readNumber(ctx, 'donation', node, (x) => x >= 0 && x <= MAX_DONATION, `a percentage from 0 to ${MAX_DONATION}`);
    // ckpool: "avoid dust-sized donations".
    if (v > 0 && v < MIN_DONATION) ctx.warn('donation', node.pos.line, `donation ${v}% is below ${MIN_DONATION}%, using 0`);
    d.donation = v < MIN_DONATION ? 0 : v;
  },
  nonce1length: (ctx, node, d) => { d.nonce1length = readIntOrUnset(ctx, 'nonce1length', node, 2, 8, 'between 2 and 8'); },
  nonce2length: (ctx, node, d) => {
    if (isProxyMode(ctx.mode) && node.kind === 'number' && node.value === 0) {
      d.nonce2length = 0;
      return;
    }
    d.nonce2length = isProxyMode(ctx.mode)
      ? readInt(ctx, 'nonce2length', node, 2, 8, 'between 2 and 8 (or 0: derive it from the upstream)')
      : readIntOrUnset(ctx, 'nonce2length', node, 2, 8, 'between 2 and 8');
  },
  update_interval: (ctx, node, d) => {
    d.updateInterval = readIntOrUnset(ctx, 'update_interval', node, 1, INT_MAX, 'a positive number of seconds');
  },
  version_mask: (ctx, node, d) => {
    const s = readString(ctx, 'version_mask', node);
    if (!/^[0-9a-fA-F]{8}$/.test(s)) {
      throw configError('CKP_ERR_CONFIG_HEX', { file: ctx.file, line: node.pos.line, key: 'version_mask' },
        ctx.file, node.pos.line, 'version_mask', JSON.stringify(s), ckpoolWould('version_mask', 'type'));
    }
    d.versionMask = parseInt(s, 16) >>> 0;
  },
  serverurl: (ctx, node, d) => { d.serverurl = uniqueUrls(ctx, 'serverurl', node, readHostPortList(ctx, 'serverurl', node, false, STRATUM_SCHEMES)); },
  nodeserver: (ctx, node, d) => { d.nodeserver = readHostPortList(ctx, 'nodeserver', node, true, STRATUM_SCHEMES); },
  tlscert: (ctx, node, d) => { d.tlscert = readNonEmptyString(ctx, 'tlscert', node, 'the path of a PEM certificate (chain) file'); },
  tlskey: (ctx, node, d) => { d.tlskey = readNonEmptyString(ctx, 'tlskey', node, 'the path of a PEM private key file'); },
  trusted: (ctx, node, d) => { d.trusted = readHostPortList(ctx, 'trusted', node, true); },
  upstream: (ctx, node, d) => { d.upstream = readHostPort(ctx, 'upstream', node); },
  mindiff: (ctx, node, d) => { d.mindiff = readNumberOrUnset(ctx, 'mindiff', node, (v) => v > 0, 'greater than 0'); },
  startdiff: (ctx, node, d) => { d.startdiff = readNumberOrUnset(ctx, 'startdiff', node, (v) => v > 0, 'greater than 0'); },
  highdiff: (ctx, node, d) => { d.highdiff = readNumberOrUnset(ctx, 'highdiff', node, (v) => v > 0, 'greater than 0'); },
  maxdiff: (ctx, node, d) => { d.maxdiff = readNumber(ctx, 'maxdiff', node, (v) => v >= 0, '0 (no maximum) or greater'); },
  logdir: (ctx, node, d) => { d.logdir = readNonEmptyString(ctx, 'logdir', node, 'a directory path'); },
  maxclients: (ctx, node, d) => {
    d.maxclients = readIntOrUnset(ctx, 'maxclients', node, 1, INT_MAX, 'a positive number of clients');
  },
  // ckpool 1.2: drop clients with no share for this many seconds; 0 = never
  dropidle: (ctx, node, d) => {
    d.dropidle = readInt(ctx, 'dropidle', node, 0, INT_MAX, 'a number of seconds from 0 (never drop idle clients)');
  },
  // ckpool-ts: per-connection limits (issue 18)
  floodrate: (ctx, node, d) => { d.floodrate = readInt(ctx, 'floodrate', node, 1, INT_MAX, 'messages per second from 1'); },
  floodburst: (ctx, node, d) => { d.floodburst = readInt(ctx, 'floodburst', node, 1, INT_MAX, 'a number of messages from 1'); },
  invalidburst: (ctx, node, d) => { d.invalidburst = readInt(ctx, 'invalidburst', node, 0, INT_MAX, 'a number of submits from 0 (never drop for a run of invalid shares)'); },
  maxpending: (ctx, node, d) => { d.maxpending = readInt(ctx, 'maxpending', node, 1024, INT_MAX, 'a number of bytes from 1024'); },
  linkmaxpending: (ctx, node, d) => { d.linkmaxpending = readInt(ctx, 'linkmaxpending', node, 65_536, INT_MAX, 'a number of bytes from 65536'); },
  linkminers: (ctx, node, d) => { d.linkminers = readInt(ctx, 'linkminers', node, 0, INT_MAX, 'a number of miners from 0 (count them against maxclients)'); },
  notifyfanout: (ctx, node, d) => { d.notifyfanout = readBool(ctx, 'notifyfanout', node); },
  workers: (ctx, node, d) => {
    d.workers = node.kind === 'string' && node.value === 'auto'
      ? autoWorkers()
      : readInt(ctx, 'workers', node, 0, 1024, '"auto" or a number of threads from 0 (serve miners on the main thread) to 1024');
  },
  proxy: (ctx, node, d) => { d.proxy = readProxies(ctx, node); },
  redirecturl: (ctx, node, d) => { d.redirecturl = readHostPortList(ctx, 'redirecturl', node, true); },
  zmqblock: (ctx, node, d) => {
    const s = readString(ctx, 'zmqblock', node);
    if (!ZMQ_ENDPOINT.test(s)) {
      throw ctx.rangeError('zmqblock', node.pos.line, 'a ZeroMQ endpoint like "tcp://127.0.0.1:28332"', JSON.stringify(s));
    }
    d.zmqblock = s;
  },
  apiurl: (ctx, node, d) => { d.apiurl = readHostPort(ctx, 'apiurl', node); },
  apitoken: (ctx, node, d) => {
    const s = readNonEmptyString(ctx, 'apitoken', node, 'a secret of at least 16 characters');
    if (s.length < 16) throw ctx.rangeError('apitoken', node.pos.line, 'a secret of at least 16 characters', `${s.length} characters`);
    d.apitoken = s;
  },
  notifications: (ctx, node, d) => { d.notifications = readNotifications(ctx, node); },
  notifyqueue: (ctx, node, d) => { d.notifyqueue = readNotifyQueue(ctx, node); },
  metricsmaxworkers: (ctx, node, d) => {
    d.metricsmaxworkers = readInt(ctx, 'metricsmaxworkers', node, 0, 100_000, 'a number of series from 0 to 100000');
  },
  // Stratum V2 (ckpool 1.2): a missing port is SV2's 3336
  sv2url: (ctx, node, d) => {
    const norm = (n: JsonNode): JsonNode => (n.kind === 'string' ? { ...n, value: normaliseSv2Url(n.value) } : n);
    const node2 = node.kind === 'array' ? { ...node, items: node.items.map(norm) } : norm(node);
    d.sv2url = uniqueUrls(ctx, 'sv2url', node2, readHostPortList(ctx, 'sv2url', node2, true));
  },
  sv2_authority_key: (ctx, node, d) => { d.sv2AuthorityKey = readNonEmptyString(ctx, 'sv2_authority_key', node, 'the path of a key file'); },
  sv2_static_key: (ctx, node, d) => { d.sv2StaticKey = readNonEmptyString(ctx, 'sv2_static_key', node, 'the path of a key file'); },
};

// --- assembly ------------------------------------------------------------------------

function build(entries: readonly JsonEntry[], mode: Mode, file: string, opts: ParseOptions, demo: boolean): CkpoolConfig {
  const ctx = new Ctx(file, mode);
  const keys = entriesOf(ctx, '', entries, CONFIG_KEYS);
  const draft: Draft = {};
  const lines: Partial<Record<ConfigKey, number>> = {};
  // File order, so the first problem in the file is the one reported.
  for (const e of entries) {
    if (!(CONFIG_KEYS as readonly string[]).includes(e.key)) continue;
    const key = e.key as ConfigKey;
    lines[key] = e.keyPos.line;
    HANDLERS[key](ctx, e.value, draft);
  }

  const missing = (key: string, why: string): CkpoolError =>
    configError('CKP_ERR_CONFIG_MISSING', { file, line: 0, key }, file, key, why, CKPOOL_ON_MISSING[key] ?? 'ckpool would stop too');
  const present = (key: ConfigKey) => keys.has(key);

  if (mode === 'pool' && !demo && draft.btcaddress === undefined) {
    // ckpool quits with status 0 here; a supervisor would not notice, so we fail.
    throw missing('btcaddress', 'in pool mode (add your payout address, or run with -B for solo mining)');
  }
  if (isProxyMode(mode) && !(draft.proxy && draft.proxy.length > 0)) {
    if (present('proxy')) throw ctx.rangeError('proxy', lines.proxy!, `at least one entry in ${mode} mode`, '[]');
    throw missing('proxy', `in ${mode} mode (a list of upstream pools: [{"url": "host:port", "auth": "user", "pass": "x"}])`);
  }
  if (mode === 'redirector' && !(draft.redirecturl && draft.redirecturl.length > 0)) {
    if (present('redirecturl')) throw ctx.rangeError('redirecturl', lines.redirecturl!, 'at least one "host:port" in redirector mode', '[]');
    throw missing('redirecturl', 'in redirector mode (-R): the "host:port" list miners are redirected to');
  }
  // stratum+ssl:// listeners need a certificate and key (read and checked when the
  // listeners start, ts/tls/credentials.ts)
  const tlsUrl = [...(draft.serverurl ?? []), ...(draft.nodeserver ?? [])].find(isTlsUrl);
  if (tlsUrl !== undefined) {
    for (const key of ['tlscert', 'tlskey'] as const) {
      if (draft[key] === undefined) {
        throw missing(key, `for the TLS listener ${JSON.stringify(tlsUrl)} (${key === 'tlscert' ? 'the PEM certificate; a chain file works' : 'the PEM private key of that certificate'})`);
      }
    }
  }
  if (opts.trusted && draft.upstream === undefined) {
    throw missing('upstream', 'in trusted remote mode (-t): the "host:port" of the upstream pool\'s trusted port');
  }

  const mindiff = draft.mindiff ?? DEFAULT_MINDIFF;
  const startdiff = draft.startdiff ?? DEFAULT_STARTDIFF;
  const maxdiff = draft.maxdiff ?? DEFAULT_MAXDIFF;
  if (maxdiff > 0 && maxdiff < mindiff) {
    throw ctx.rangeError('maxdiff', lines.maxdiff ?? lines.mindiff ?? 0, `0 (no maximum) or at least mindiff (${mindiff})`, String(maxdiff));
  }
  if (startdiff < mindiff) {
    ctx.warn('startdiff', lines.startdiff ?? lines.mindiff ?? 0, `startdiff (${startdiff}) is below mindiff (${mindiff})`);
  }

  const nofile = opts.openFileLimit ?? openFileLimit();
  const cap = maxClientsFor(nofile);
  let maxclients = draft.maxclients ?? cap;
  if (maxclients > cap) {
    ctx.warn('maxclients', lines.maxclients ?? 0,
      `Cannot set maxclients to ${maxclients} due to max open file limit of ${nofile}, reducing to ${cap}`);
    maxclients = cap;
  }

  return {
    source: file,
    embeddedDemo: demo,
    mode,
    // The demo starter supplies its own node; the default user/pass entry is not
    // something to try against whatever listens on localhost:8332.
    btcd: draft.btcd ?? (demo ? [] : [DEFAULT_BTCD]),
    ...(draft.btcaddress !== undefined ? { btcaddress: draft.btcaddress } : {}),
    btcsig: draft.btcsig ?? '',
    blockpoll: draft.blockpoll ?? DEFAULT_BLOCKPOLL_MS,
    donation: draft.donation ?? 0,
    nonce1length: draft.nonce1length ?? DEFAULT_NONCE1LENGTH,
    nonce2length: draft.nonce2length ?? defaultNonce2Length(mode),
    updateInterval: draft.updateInterval ?? DEFAULT_UPDATE_INTERVAL_S,
    versionMask: draft.versionMask ?? DEFAULT_VERSION_MASK,
    serverurl: draft.serverurl ?? [defaultServerUrl(mode)],
    nodeserver: draft.nodeserver ?? [],
    ...(draft.tlscert !== undefined ? { tlscert: draft.tlscert } : {}),
    ...(draft.tlskey !== undefined ? { tlskey: draft.tlskey } : {}),
    trusted: draft.trusted ?? [],
    ...(draft.upstream !== undefined ? { upstream: draft.upstream } : {}),
    mindiff,
    startdiff,
    highdiff: draft.highdiff ?? DEFAULT_HIGHDIFF,
    maxdiff,
    logdir: draft.logdir ?? DEFAULT_LOGDIR,
    maxclients,
    dropidle: draft.dropidle ?? 0,
    ...(draft.workers !== undefined ? { workers: draft.workers } : {}),
    proxy: draft.proxy ?? [],
    redirecturl: draft.redirecturl ?? [],
    zmqblock: draft.zmqblock ?? DEFAULT_ZMQBLOCK,
    ...(draft.apiurl !== undefined ? { apiurl: draft.apiurl } : {}),
    ...(draft.apitoken !== undefined ? { apitoken: draft.apitoken } : {}),
    ...(draft.notifications !== undefined ? { notifications: draft.notifications } : {}),
    ...(draft.notifyqueue !== undefined ? { notifyqueue: draft.notifyqueue } : {}),
    ...(draft.metricsmaxworkers !== undefined ? { metricsmaxworkers: draft.metricsmaxworkers } : {}),
    ...(draft.floodrate !== undefined ? { floodrate: draft.floodrate } : {}),
    ...(draft.floodburst !== undefined ? { floodburst: draft.floodburst } : {}),
    ...(draft.invalidburst !== undefined ? { invalidburst: draft.invalidburst } : {}),
    ...(draft.maxpending !== undefined ? { maxpending: draft.maxpending } : {}),
    ...(draft.linkmaxpending !== undefined ? { linkmaxpending: draft.linkmaxpending } : {}),
    ...(draft.linkminers !== undefined ? { linkminers: draft.linkminers } : {}),
    ...(draft.notifyfanout !== undefined ? { notifyfanout: draft.notifyfanout } : {}),
    sv2url: draft.sv2url ?? [],
    ...(draft.sv2AuthorityKey !== undefined ? { sv2AuthorityKey: draft.sv2AuthorityKey } : {}),
    ...(draft.sv2StaticKey !== undefined ? { sv2StaticKey: draft.sv2StaticKey } : {}),
    // Stable sort: file order, unknown-key warnings before value warnings on a line.
    warnings: [...ctx.warnings].sort((a, b) => a.line - b.line),
    lines,
  };
}
