/**
 * The `notifications` and `notifyqueue` config keys (ckpool-ts extensions, issue 16):
 * webhooks told about found blocks, their verdicts, workers going quiet, nodes and
 * upstream pools going away. Types and the reader live here so ts/config/parse.ts only
 * hooks them in; delivery is ts/notify/.
 *
 * ```json
 * "notifications": [
 *   { "url": "https://discord.com/api/webhooks/…", "format": "discord", "events": ["block_found"] },
 *   { "url": "https://api.telegram.org/bot<token>/sendMessage?chat_id=-100123", "format": "telegram",
 *     "events": ["block_found", "block_accepted", "worker_offline"], "offlineminutes": 15 }
 * ]
 * ```
 */
import { configError, type ConfigError } from './errors.js';
import { kindName, type JsonEntry, type JsonNode } from './json.js';
import { suggestKey } from './suggest.js';

export const NOTIFY_FORMATS = ['json', 'discord', 'telegram', 'slack'] as const;
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number];

/** What an entry may subscribe to (block_verdict of the event bus becomes one of the three verdicts). */
export const NOTIFY_EVENTS = [
  'block_found', 'block_accepted', 'block_rejected', 'block_orphaned',
  'worker_offline', 'worker_online', 'node_down', 'node_up', 'upstream_down', 'upstream_up',
] as const;
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

export const DEFAULT_OFFLINE_MINUTES = 10;
export const DEFAULT_NOTIFY_TIMEOUT_S = 10;
/** Pending deliveries kept in the outbox before the oldest non-block ones are dropped. */
export const DEFAULT_NOTIFY_QUEUE = 1000;

export interface NotificationEntry {
  /** http(s) URL the notification is POSTed to (Telegram: the bot's sendMessage URL). */
  readonly url: string;
  readonly format: NotifyFormat;
  readonly events: readonly NotifyEventName[];
  /** worker_offline: minutes without a share (default 10; fractions allowed). */
  readonly offlineMinutes: number;
  /** PEM file of extra CA certificates trusted for this URL (a self-signed receiver). */
  readonly ca?: string;
  /** Per-attempt timeout, seconds (default 10). */
  readonly timeout: number;
  /** Telegram's chat_id, taken from the URL's `chat_id` parameter or the entry's `chatid`. */
  readonly chatId?: string;
  readonly line: number;
}

const ENTRY_KEYS = ['url', 'format', 'events', 'offlineminutes', 'ca', 'timeout', 'chatid'] as const;
const CKPOOL_WOULD = 'ckpool would ignore it (a ckpool-ts key)';

/** What the reader needs from the config parser's context (parse.ts's Ctx has it). */
export interface NotifyParseCtx {
  readonly file: string;
  warn(key: string, line: number, message: string): void;
}

function typeError(ctx: NotifyParseCtx, key: string, node: JsonNode, expected: string): ConfigError {
  const got = node.kind === 'number' ? `${kindName(node)} (${node.raw})` : kindName(node);
  return configError('CKP_ERR_CONFIG_TYPE', { file: ctx.file, line: node.pos.line, key }, ctx.file, node.pos.line, key, expected, got, CKPOOL_WOULD);
}

function rangeError(ctx: NotifyParseCtx, key: string, line: number, expected: string, got: string): ConfigError {
  return configError('CKP_ERR_CONFIG_RANGE', { file: ctx.file, line, key }, ctx.file, line, key, expected, got, CKPOOL_WOULD);
}

function str(ctx: NotifyParseCtx, key: string, node: JsonNode): string {
  if (node.kind !== 'string') throw typeError(ctx, key, node, 'a string');
  return node.value;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}

/** `notifyqueue`: how many deliveries may wait in the outbox. */
export function readNotifyQueue(ctx: NotifyParseCtx, node: JsonNode): number {
  if (node.kind !== 'number' || !Number.isInteger(node.value)) throw typeError(ctx, 'notifyqueue', node, 'an integer');
  if (node.value < 10 || node.value > 1_000_000) {
    throw rangeError(ctx, 'notifyqueue', node.pos.line, 'a number of pending notifications from 10 to 1000000', node.raw);
  }
  return node.value;
}

export function readNotifications(ctx: NotifyParseCtx, node: JsonNode): NotificationEntry[] {
  if (node.kind !== 'array') throw typeError(ctx, 'notifications', node, 'an array of {"url", "format", "events"} objects');
  return node.items.map((item, i) => readEntry(ctx, `notifications[${i}]`, item));
}

function readEntry(ctx: NotifyParseCtx, name: string, item: JsonNode): NotificationEntry {
  if (item.kind !== 'object') throw typeError(ctx, name, item, 'an object {"url", "format", "events"}');
  const line = item.pos.line;
  const keys = new Map<string, JsonEntry>();
  for (const e of item.entries) {
    const k = `${name}.${e.key}`;
    const first = keys.get(e.key);
    if (first) {
      throw configError('CKP_ERR_CONFIG_DUPLICATE', { file: ctx.file, line: e.keyPos.line, key: k },
        ctx.file, e.keyPos.line, k, first.keyPos.line, 'ckpool 0.9.9 (jansson) would silently use the later one');
    }
    keys.set(e.key, e);
    if (!(ENTRY_KEYS as readonly string[]).includes(e.key)) {
      const guess = suggestKey(e.key, ENTRY_KEYS);
      ctx.warn(k, e.keyPos.line, `unknown key "${k}" ignored${guess ? ` (did you mean "${name}.${guess}"?)` : ''}`);
    }
  }
  const required = (k: string): JsonNode => {
    const v = keys.get(k)?.value;
    if (!v) throw configError('CKP_ERR_CONFIG_ENTRY_FIELD', { file: ctx.file, line, key: `${name}.${k}` }, ctx.file, line, name, k, CKPOOL_WOULD);
    return v;
  };

  const urlNode = required('url');
  const url = str(ctx, `${name}.url`, urlNode);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw rangeError(ctx, `${name}.url`, urlNode.pos.line, 'an http:// or https:// URL', JSON.stringify(url.replace(/\/\/[^/]*@/, '//***@')));
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw rangeError(ctx, `${name}.url`, urlNode.pos.line, 'an http:// or https:// URL', JSON.stringify(parsed.protocol));
  }
  if (parsed.protocol === 'http:' && !isLoopback(parsed.hostname)) {
    ctx.warn(`${name}.url`, urlNode.pos.line,
      `${name}.url is plain http to ${parsed.hostname}: notifications (and any token in the URL) cross the network unencrypted`);
  }

  const formatNode = required('format');
  const format = str(ctx, `${name}.format`, formatNode);
  if (!(NOTIFY_FORMATS as readonly string[]).includes(format)) {
    throw rangeError(ctx, `${name}.format`, formatNode.pos.line, `one of ${NOTIFY_FORMATS.map((f) => `"${f}"`).join(', ')}`, JSON.stringify(format));
  }

  const eventsNode = required('events');
  if (eventsNode.kind !== 'array') throw typeError(ctx, `${name}.events`, eventsNode, 'an array of event names');
  if (eventsNode.items.length === 0) {
    throw rangeError(ctx, `${name}.events`, eventsNode.pos.line, `a non-empty list of ${NOTIFY_EVENTS.join(', ')}`, '[]');
  }
  const events: NotifyEventName[] = [];
  eventsNode.items.forEach((ev, j) => {
    const v = str(ctx, `${name}.events[${j}]`, ev);
    if (!(NOTIFY_EVENTS as readonly string[]).includes(v)) {
      const guess = suggestKey(v, NOTIFY_EVENTS);
      throw rangeError(ctx, `${name}.events[${j}]`, ev.pos.line,
        guess ? `an event name (did you mean "${guess}"?)` : `one of ${NOTIFY_EVENTS.join(', ')}`, JSON.stringify(v));
    }
    if (!events.includes(v as NotifyEventName)) events.push(v as NotifyEventName);
  });

  let offlineMinutes = DEFAULT_OFFLINE_MINUTES;
  const offNode = keys.get('offlineminutes')?.value;
  if (offNode) {
    if (offNode.kind !== 'number') throw typeError(ctx, `${name}.offlineminutes`, offNode, 'a number of minutes');
    if (!(offNode.value > 0 && offNode.value <= 7 * 24 * 60)) {
      throw rangeError(ctx, `${name}.offlineminutes`, offNode.pos.line, 'minutes greater than 0 and at most a week (10080)', offNode.raw);
    }
    offlineMinutes = offNode.value;
  }

  let timeout = DEFAULT_NOTIFY_TIMEOUT_S;
  const toNode = keys.get('timeout')?.value;
  if (toNode) {
    if (toNode.kind !== 'number') throw typeError(ctx, `${name}.timeout`, toNode, 'a number of seconds');
    if (!(toNode.value >= 0.1 && toNode.value <= 300)) {
      throw rangeError(ctx, `${name}.timeout`, toNode.pos.line, 'seconds from 0.1 to 300', toNode.raw);
    }
    timeout = toNode.value;
  }

  const caNode = keys.get('ca')?.value;
  const ca = caNode ? str(ctx, `${name}.ca`, caNode) : undefined;
  if (ca !== undefined && ca.trim() === '') throw rangeError(ctx, `${name}.ca`, caNode!.pos.line, 'the path of a PEM file', '""');

  const chatNode = keys.get('chatid')?.value;
  let chatId: string | undefined;
  if (chatNode) {
    // Telegram chat ids are numbers (-100…) or "@channelname"; both are accepted
    if (chatNode.kind === 'number' && Number.isInteger(chatNode.value)) chatId = chatNode.raw;
    else chatId = str(ctx, `${name}.chatid`, chatNode);
  }
  const fromUrl = parsed.searchParams.get('chat_id') ?? undefined;
  if (format === 'telegram') {
    chatId ??= fromUrl;
    if (!chatId) {
      throw configError('CKP_ERR_CONFIG_ENTRY_FIELD', { file: ctx.file, line, key: `${name}.chatid` }, ctx.file, line, name, 'chatid',
        'a telegram entry needs the chat: https://api.telegram.org/bot<token>/sendMessage?chat_id=<id> or "chatid"; ' + CKPOOL_WOULD);
    }
  } else if (chatId !== undefined) {
    ctx.warn(`${name}.chatid`, chatNode!.pos.line, `${name}.chatid is only used by the telegram format; ignored`);
    chatId = undefined;
  }

  return { url, format: format as NotifyFormat, events, offlineMinutes, ...(ca !== undefined ? { ca } : {}), timeout,
    ...(chatId !== undefined ? { chatId } : {}), line };
}
