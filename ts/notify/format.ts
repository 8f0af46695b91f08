/**
 * What a notification looks like on the wire, per format:
 *
 * - `json`: the envelope `{ id, type, time, pool, text, data }` — `id` is the stable
 *   event id (also the `Idempotency-Key` header) a receiver deduplicates on, `time` unix
 *   seconds, `data` the event's fields (a block: height, hash, finder, worker, reward…).
 * - `discord`: an execute-webhook body `{ content }` (Discord's limit: 2000 characters).
 * - `slack`: an incoming-webhook body `{ text }` (`&`, `<`, `>` escaped as Slack asks).
 * - `telegram`: the Bot API's sendMessage body `{ chat_id, text }`, plain text (no
 *   parse_mode, so names need no escaping).
 */
import type { NotifyFormat } from '../config/notifications.js';
import type { NotifyRecord } from './outbox.js';

/** 1 BTC in satoshis. */
const COIN = 100_000_000;

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

function btc(sats: unknown): string {
  const n = num(sats);
  return Number.isFinite(n) ? `${(n / COIN).toFixed(8).replace(/\.?0+$/, '')} BTC` : '?';
}

function minutes(ms: number): string {
  const m = ms / 60_000;
  return m >= 1 ? `${Math.round(m)} min` : `${Math.round(ms / 1000)} s`;
}

/** One human line per event, shared by the chat formats and the json envelope's `text`. */
export function eventText(rec: NotifyRecord, pool: string): string {
  const d = rec.data;
  const tag = `[${pool}]`;
  switch (rec.type) {
    case 'block_found':
      return `${tag} Block ${str(d.height)} found by ${str(d.finder)} (worker ${str(d.worker)}), reward ${btc(d.reward)}, hash ${str(d.hash)}`;
    case 'block_accepted':
      return `${tag} Block ${str(d.height)} accepted by the network (found by ${str(d.finder)}), hash ${str(d.hash)}`;
    case 'block_rejected':
      return `${tag} Block ${str(d.height)} REJECTED (found by ${str(d.finder)}): ${str(d.reason) || 'no reason given'}; hash ${str(d.hash)}`;
    case 'block_orphaned':
      return `${tag} Block ${str(d.height)} orphaned (found by ${str(d.finder)}): ${str(d.reason) || 'no longer on the best chain'}; hash ${str(d.hash)}`;
    case 'worker_offline': {
      const last = num(d.lastShare);
      const since = last > 0 ? `, last share ${new Date(last * 1000).toISOString()}` : '';
      return `${tag} Worker ${str(d.worker)} offline: no shares for ${minutes(num(d.offlineMinutes) * 60_000)}${since}`;
    }
    case 'worker_online':
      return `${tag} Worker ${str(d.worker)} back online`;
    case 'node_down':
      return `${tag} Bitcoin node ${str(d.name)} down${d.reason ? `: ${str(d.reason)}` : ''}`;
    case 'node_up':
      return `${tag} Bitcoin node ${str(d.name)} back up`;
    case 'upstream_down':
      return `${tag} Upstream pool ${str(d.name)} lost${d.reason ? `: ${str(d.reason)}` : ''}`;
    case 'upstream_up':
      return `${tag} Upstream pool ${str(d.name)} connected again`;
    case 'test':
      return `${tag} Test notification${d.message ? `: ${str(d.message)}` : ''}`;
  }
}

const DISCORD_MAX = 2000;
const TELEGRAM_MAX = 4096;

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Discord markdown would eat `_` and `*` in worker names. */
function discordEscape(s: string): string {
  return s.replace(/([\\*_~`|>])/g, '\\$1');
}

function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The request body for one delivery. */
export function renderBody(rec: NotifyRecord, format: NotifyFormat, pool: string, chatId?: string): string {
  const text = eventText(rec, pool);
  switch (format) {
    case 'json':
      return JSON.stringify({ id: rec.id, type: rec.type, time: rec.time, pool, text, data: rec.data });
    case 'discord':
      return JSON.stringify({ content: cut(discordEscape(text), DISCORD_MAX) });
    case 'slack':
      return JSON.stringify({ text: slackEscape(text) });
    case 'telegram':
      return JSON.stringify({ chat_id: chatId, text: cut(text, TELEGRAM_MAX), disable_web_page_preview: true });
  }
}
