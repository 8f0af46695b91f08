/**
 * The control commands: parsing, which socket accepts what, and the replies.
 *
 * Reply style (documented in README §control):
 * - Commands ckpool answers keep ckpool's exact plain-text replies, so existing
 *   scripts keep working: `pong`, `success` / `Invalid` / `Failed`, `accepting`,
 *   `rejecting`, `reconnecting`, `exiting`, `resetting`; `update` answers `updating`.
 * - Everything else (the queries ckpool 0.9.9 stubs out, and our additions) answers
 *   one line of compact JSON.
 * - Every error, including an unknown command, is JSON: `{"error":"<text>"}`.
 *
 * Argument forms: `cmd <arg>`, `cmd=<arg>` (ckpool's `dropclient=5`, `loglevel=7`),
 * `cmd:<arg>` (`reconnect:host,port`) and `cmd{json}` (ckpool's `getuser{"user":"x"}`),
 * also written `cmd={json}` or `cmd {json}` for the commands that take a name or an id.
 *
 * Worker threads (`target.workers`): the pool's miners are on the threads and the main
 * thread's stratifier has only node-link miners; every command acts on both and answers
 * exactly as with one thread.
 *
 * Sockets: the listener accepts every command; `stratifier`, `connector` and
 * `generator` accept the ones ckpool's modules answer (§11), so scripts written for
 * ckpool keep working against the same paths.
 */
import type { Logger } from '../log/logger.js';
import type { SocketName } from './paths.js';
import type { ClientFilter } from '../pool/thread-protocol.js';
import {
  allClients, clientInfo, connectorStats, localClients, poolStats, resetShares, stratifierStats, userInfo, userList,
  workerInfo, workerList, type ControlCounters, type ControlTarget,
} from './queries.js';

export interface CommandContext {
  /** The socket the command came in on. */
  readonly socket: SocketName;
  /** The running pool, or null while it is still starting (waiting for bitcoind). */
  readonly target: ControlTarget | null;
  /** Its level is what `loglevel=N` changes. */
  readonly logger: Logger;
  /** When the instance started (ms), for `uptime`. */
  readonly startedAt: number;
  readonly counters: ControlCounters;
  /** Stop the instance; called once the reply has been sent. */
  readonly shutdown: () => void;
  /** Re-execute this instance's command line with -H (the new process takes over). */
  readonly restart?: () => void;
  readonly now: number;
}

export interface CommandResult {
  readonly reply: string;
  /** Instead of a framed reply, pass this descriptor to the peer (`getxfd`, SCM_RIGHTS). */
  readonly sendFd?: number;
  /** Run after the reply has been written (shutdown must not cut its own reply off). */
  readonly after?: () => void;
}

/** A command split into its name and argument. */
export interface ParsedCommand {
  readonly name: string;
  /** The argument after its separator (' ', '=' or ':'), trimmed; '' when none. */
  readonly arg: string;
  /** The `{...}` that followed the name directly (ckpool's JSON argument form). */
  readonly json?: string;
}

export function parseCommand(text: string): ParsedCommand {
  // Tolerate a trailing newline from `echo cmd | nc -U`-style senders.
  const t = text.replace(/[\r\n]+$/, '');
  const m = /^([A-Za-z_]+)([\s\S]*)$/.exec(t.trimStart());
  if (!m) return { name: '', arg: t.trim() };
  const [, name, rest] = m as unknown as [string, string, string];
  if (rest.startsWith('{')) return { name, arg: '', json: rest };
  if (rest.startsWith('=') || rest.startsWith(':')) return { name, arg: rest.slice(1).trim() };
  return { name, arg: rest.trim() };
}

const plain = (reply: string): CommandResult => ({ reply });
const json = (value: unknown): CommandResult => ({ reply: JSON.stringify(value) });
/** The one error reply shape. */
export const errorReply = (message: string): string => JSON.stringify({ error: message });
const fail = (message: string): CommandResult => ({ reply: errorReply(message) });

type Handler = (cmd: ParsedCommand, ctx: CommandContext, target: ControlTarget) => CommandResult | Promise<CommandResult>;
type PoolFreeHandler = (cmd: ParsedCommand, ctx: CommandContext) => CommandResult | Promise<CommandResult>;

interface Spec {
  /** Sockets besides the listener that accept it. */
  readonly on: readonly SocketName[];
  /** Needs the running pool (most do); the others also work while it starts. */
  readonly run: { readonly pool: Handler } | { readonly free: PoolFreeHandler };
}

const STARTING = 'the pool is still starting (no work from bitcoind yet); try again shortly';
const NO_NOTIFICATIONS = 'no notifications are configured (config key "notifications")';

/**
 * `{"key":value}` from the JSON form, or the plain argument. ckpool's form is
 * `getuser{"user":"x"}`; `getuser={"user":"x"}` and `getuser {"user":"x"}` (what people
 * type after reading `dropclient=5` or `getuser x`) mean the same, so an argument that
 * starts with `{` is read as the JSON form too.
 */
function argValue(cmd: ParsedCommand, keys: readonly string[]): unknown {
  const text = cmd.json ?? (cmd.arg.startsWith('{') ? cmd.arg : undefined);
  if (text === undefined) return cmd.arg === '' ? undefined : cmd.arg;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!obj || typeof obj !== 'object') return undefined;
  for (const k of keys) if (k in obj) return (obj as Record<string, unknown>)[k];
  return undefined;
}

function idArg(cmd: ParsedCommand): number | null {
  const v = argValue(cmd, ['id', 'client_id', 'clientid']);
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function nameArg(cmd: ParsedCommand, keys: readonly string[]): string | null {
  const v = argValue(cmd, keys);
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}

/** A leading `user=<name>` or `client=<id>` selector, and what follows it. */
interface Selector {
  readonly filter?: { user?: string; clientId?: number };
  readonly rest: string;
  readonly error?: string;
}
function selector(arg: string): Selector {
  const m = /^(user|client)=(\S+)(?:\s+([\s\S]*))?$/.exec(arg);
  if (!m) return { rest: arg };
  const [, kind, value, rest = ''] = m as unknown as [string, string, string, string | undefined];
  if (kind === 'user') return { filter: { user: value }, rest: rest.trim() };
  if (!/^\d+$/.test(value)) return { rest, error: `client=<id> needs a numeric client id, got ${JSON.stringify(value)}` };
  return { filter: { clientId: Number(value) }, rest: rest.trim() };
}

function requireHash(arg: string): string | undefined | null {
  if (arg === '') return undefined;
  return /^[0-9a-fA-F]{64}$/.test(arg) ? arg.toLowerCase() : null;
}

/**
 * `update` (what notifier sends) and `notify [hash]`: a block notification. While the
 * pool is still starting there is nothing to refresh (its first template is fetched
 * after this anyway), so it is acknowledged rather than refused: bitcoind's
 * -blocknotify should not log failures during a pool restart.
 */
const update: PoolFreeHandler = (cmd, ctx) => {
  const hash = requireHash(cmd.arg);
  if (hash === null) return fail(`${cmd.name}: ${JSON.stringify(cmd.arg)} is not a 64-digit block hash`);
  ctx.logger.notice(`Control: ${cmd.name} requested${hash ? ` for block ${hash}` : ''} (block notification)`);
  ctx.target?.generator.notify(hash);
  return plain('updating');
};

async function dropClient(t: ControlTarget, id: number, logger: Logger): Promise<CommandResult> {
  const c = t.stratifier.clients.get(id);
  if (c) {
    logger.notice(`Control: dropping client ${id} ${c.conn.address}`);
    c.conn.close('dropped by operator', true);
    return json({ dropped: 1 });
  }
  const [rec] = t.workers ? await t.workers.clientList({ clientId: id }) : [];
  if (!rec) return fail(`unknown client ${id}`);
  logger.notice(`Control: dropping client ${id} ${rec.conn.address}`);
  // 0: it left meanwhile
  const n = await t.workers!.total({ op: 'drop', filter: { clientId: id } });
  return n > 0 ? json({ dropped: n }) : fail(`unknown client ${id}`);
}

/** Close the selected miners (every one without a filter), on this thread and the workers'. */
async function dropClients(t: ControlTarget, filter?: ClientFilter): Promise<number> {
  const victims = localClients(t, filter);
  for (const c of victims) c.conn.close('dropped by operator', true);
  return victims.length + (t.workers ? await t.workers.total({ op: 'drop', filter }) : 0);
}

/** client.reconnect to the selected miners (every one without a filter), optionally to host:port. */
async function reconnectClients(t: ControlTarget, host?: string, port?: number, filter?: ClientFilter): Promise<number> {
  const n = t.stratifier.reconnectClients(host, port, filter);
  return n + (t.workers ? await t.workers.total({ op: 'reconnect', host, port, filter }) : 0);
}

async function reconnectOne(t: ControlTarget, id: number): Promise<CommandResult> {
  const n = await reconnectClients(t, undefined, undefined, { clientId: id });
  return n > 0 ? json({ reconnecting: n }) : fail(`unknown client ${id}`);
}

const COMMANDS: Record<string, Spec> = {
  ping: { on: ['stratifier', 'connector', 'generator'], run: { free: () => plain('pong') } },

  loglevel: {
    on: ['stratifier', 'connector', 'generator'],
    run: {
      free: (cmd, ctx) => {
        // ckpool: sscanf failure → "Failed", out of range → "Invalid".
        const m = /^(-?\d+)$/.exec(cmd.arg);
        if (!m) return plain('Failed');
        const level = Number(m[1]);
        if (level < 0 || level > 7) return plain('Invalid');
        ctx.logger.level = level;
        ctx.logger.notice(`Control: log level set to ${level}`);
        return plain('success');
      },
    },
  },

  shutdown: {
    on: [],
    run: {
      free: (_cmd, ctx) => {
        ctx.logger.notice('Control: shutdown requested');
        return { reply: 'exiting', after: ctx.shutdown };
      },
    },
  },

  uptime: {
    on: ['stratifier'],
    run: { free: (_cmd, ctx) => json({ uptime: Math.max(0, Math.floor((ctx.now - ctx.startedAt) / 1000)), started: Math.floor(ctx.startedAt / 1000) }) },
  },

  // Handover (ckpool -H, ts/control/takeover.ts): the new instance asks for each
  // listening socket, then sends ckpool's `reject`, `reconnect` and `shutdown` — there is
  // no handover command of its own, so a C ckpool and ckpool-ts take over the same way.
  getxfd: {
    on: ['connector'],
    run: {
      pool: (cmd, _ctx, t) => {
        const i = /^\d+$/.test(cmd.arg) ? Number(cmd.arg) : NaN;
        // serverurl and nodeserver sockets, then the sv2url ones (ts/sv2)
        const fds = [...t.server.listeningFds(), ...(t.sv2?.listeningFds() ?? [])];
        if (!(i >= 0 && i < fds.length)) return fail(`getxfd: no listening socket ${JSON.stringify(cmd.arg)} (have ${fds.length})`);
        return { reply: '', sendFd: fds[i] };
      },
    },
  },
  restart: {
    on: [],
    run: {
      free: (_cmd, ctx) => {
        if (!ctx.restart) return fail('restart: this instance cannot re-execute itself');
        ctx.logger.notice('Control: restart requested; starting a new instance with -H');
        return { reply: 'restarting', after: ctx.restart };
      },
    },
  },

  accept: {
    on: ['connector'],
    run: {
      pool: async (_cmd, ctx, t) => {
        t.server.accepting = true;
        await t.server.resumeListening();
        await t.sv2?.resume();
        ctx.logger.notice('Control: accepting new clients');
        return plain('accepting');
      },
    },
  },
  reject: {
    on: ['connector'],
    run: {
      pool: (_cmd, ctx, t) => {
        // As ckpool's connector: stop accepting, the listening sockets stay open (new
        // connections wait in the backlog, or go to the process that took them over).
        t.server.accepting = false;
        t.server.pauseListening();
        t.sv2?.pause();
        ctx.logger.notice('Control: rejecting new clients');
        return plain('rejecting');
      },
    },
  },

  reconnect: {
    on: ['stratifier'],
    run: {
      pool: async (cmd, ctx, t) => {
        const sel = selector(cmd.arg);
        if (sel.error) return fail(sel.error);
        if (sel.filter) {
          if (sel.rest) return fail(`reconnect ${cmd.arg}: unexpected ${JSON.stringify(sel.rest)} (usage: reconnect [user=<user>|client=<id>] or reconnect:host,port)`);
          if (sel.filter.clientId !== undefined) return reconnectOne(t, sel.filter.clientId);
          return json({ reconnecting: await reconnectClients(t, undefined, undefined, sel.filter) });
        }
        if (cmd.arg === '') {
          const n = await reconnectClients(t);
          ctx.logger.notice(`Control: sent client.reconnect to all ${n} clients`);
          return plain('reconnecting');
        }
        // ckpool: reconnect:host,port
        const m = /^([^,\s]+),(\d{1,5})$/.exec(cmd.arg);
        if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
          return fail(`reconnect: ${JSON.stringify(cmd.arg)} is not host,port (usage: reconnect:host,port)`);
        }
        ctx.logger.notice(`Control: reconnecting all clients to ${m[1]}:${m[2]}`);
        await reconnectClients(t, m[1], Number(m[2]));
        return plain('reconnecting');
      },
    },
  },
  reconnclient: {
    on: ['stratifier'],
    run: {
      pool: (cmd, _ctx, t) => {
        const id = idArg(cmd);
        return id === null ? fail('reconnclient needs a client id: reconnclient=<id>') : reconnectOne(t, id);
      },
    },
  },

  stratifierstats: { on: [], run: { pool: async (_c, ctx, t) => json(await stratifierStats(t, ctx.counters)) } },
  connectorstats: { on: [], run: { pool: async (_c, _ctx, t) => json(await connectorStats(t)) } },
  // ckpool's modules answer `stats` on their own socket; on the listener it means the stratifier's.
  stats: {
    on: ['stratifier', 'connector'],
    run: { pool: async (_c, ctx, t) => json(ctx.socket === 'connector' ? await connectorStats(t) : await stratifierStats(t, ctx.counters)) },
  },

  resetshares: {
    on: ['stratifier'],
    run: {
      pool: async (_c, ctx, t) => {
        await resetShares(t);
        ctx.logger.notice('Control: best shares reset');
        return plain('resetting');
      },
    },
  },

  update: { on: ['stratifier', 'generator'], run: { free: update } },
  notify: { on: ['stratifier', 'generator'], run: { free: update } },

  getbest: {
    on: ['generator'],
    run: {
      pool: async (_c, _ctx, t) => {
        try {
          return plain(await t.generator.servers.call<string>('getbestblockhash'));
        } catch {
          return plain('failed');
        }
      },
    },
  },
  getlast: { on: ['generator'], run: { pool: (_c, _ctx, t) => plain(t.generator.watcher.lastHash ?? 'failed') } },

  poolstats: { on: ['stratifier'], run: { pool: (_c, ctx, t) => json(poolStats(t, ctx.now)) } },
  users: { on: ['stratifier'], run: { pool: (_c, ctx, t) => json({ users: userList(t, ctx.now) }) } },
  workers: { on: ['stratifier'], run: { pool: (_c, ctx, t) => json({ workers: workerList(t, ctx.now) }) } },
  clients: { on: ['stratifier'], run: { pool: async (_c, _ctx, t) => json({ clients: (await allClients(t)).map((c) => clientInfo(t, c)) }) } },

  getuser: {
    on: ['stratifier'],
    run: {
      pool: (cmd, ctx, t) => {
        const user = nameArg(cmd, ['user', 'username']);
        if (user === null) return fail('getuser needs a user name: getuser <user>');
        return json(userInfo(t, user, ctx.now) ?? { error: `unknown user ${user}` });
      },
    },
  },
  getworker: {
    on: ['stratifier'],
    run: {
      pool: (cmd, ctx, t) => {
        const worker = nameArg(cmd, ['worker', 'workername']);
        if (worker === null) return fail('getworker needs a worker name: getworker <worker>');
        return json(workerInfo(t, worker, ctx.now) ?? { error: `unknown worker ${worker}` });
      },
    },
  },
  getclient: {
    on: ['stratifier'],
    run: {
      pool: async (cmd, _ctx, t) => {
        const id = idArg(cmd);
        if (id === null) return fail('getclient needs a numeric client id: getclient <id>');
        const [c] = await allClients(t, { clientId: id });
        return c ? json(clientInfo(t, c)) : fail(`unknown client ${id}`);
      },
    },
  },

  dropclient: {
    on: ['stratifier', 'connector'],
    run: {
      pool: (cmd, ctx, t) => {
        const id = idArg(cmd);
        return id === null ? fail('dropclient needs a numeric client id: dropclient <id>') : dropClient(t, id, ctx.logger);
      },
    },
  },
  dropuser: {
    on: ['stratifier'],
    run: {
      pool: async (cmd, ctx, t) => {
        const user = nameArg(cmd, ['user', 'username']);
        if (user === null) return fail('dropuser needs a user name: dropuser <user>');
        const dropped = await dropClients(t, { user });
        if (dropped === 0 && !t.stats.getUser(user)) return fail(`unknown user ${user}`);
        ctx.logger.notice(`Control: dropping ${dropped} client(s) of user ${user}`);
        return json({ dropped });
      },
    },
  },
  dropall: {
    on: ['stratifier'],
    run: {
      pool: async (_cmd, ctx, t) => {
        const dropped = await dropClients(t);
        ctx.logger.notice(`Control: dropping all ${dropped} client(s)`);
        return json({ dropped });
      },
    },
  },

  // Webhook notifications (README §Notifications): what waits in the outbox, and a test message.
  notifications: {
    on: ['stratifier'],
    run: {
      pool: (_c, ctx, t) => {
        const n = t.notifications?.notifier;
        if (!n) return fail(NO_NOTIFICATIONS);
        return json({ pending: n.pending(ctx.now), delivered: n.delivered, dropped: n.dropped });
      },
    },
  },
  notifytest: {
    on: ['stratifier'],
    run: {
      pool: async (cmd, ctx, t) => {
        const n = t.notifications?.notifier;
        if (!n) return fail(NO_NOTIFICATIONS);
        const id = await n.test(cmd.arg || undefined);
        ctx.logger.notice(`Control: test notification ${id} queued`);
        return json({ queued: id });
      },
    },
  },

  message: {
    on: ['stratifier'],
    run: {
      pool: async (cmd, ctx, t) => {
        const sel = selector(cmd.arg);
        if (sel.error) return fail(sel.error);
        if (!sel.rest) return fail('message needs a text: message [user=<user>|client=<id>] <text>');
        if (sel.filter?.clientId !== undefined && (await allClients(t, { clientId: sel.filter.clientId })).length === 0) {
          return fail(`unknown client ${sel.filter.clientId}`);
        }
        const sent = t.stratifier.showMessage(sel.rest, sel.filter) +
          (t.workers ? await t.workers.total({ op: 'show', text: sel.rest, filter: sel.filter }) : 0);
        ctx.logger.notice(`Control: message to ${sent} client(s): ${sel.rest}`);
        return json({ sent });
      },
    },
  },
};

/**
 * ckpool's connector accepts a JSON object with `client_id` and sends the rest of it
 * to that client (an operator's hand-made stratum message).
 */
async function sendToClient(text: string, t: ControlTarget): Promise<CommandResult> {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch (e) {
    return fail(`invalid JSON: ${(e as Error).message}`);
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg)) return fail('a JSON message must be an object with "client_id"');
  const { client_id: id, ...rest } = msg as Record<string, unknown>;
  if (typeof id !== 'number') return fail('a JSON message needs a numeric "client_id"');
  const c = t.stratifier.clients.get(id);
  if (c) return json({ sent: c.conn.sendJson(rest) ? 1 : 0 });
  // each thread answers 1 (sent), 0 (not sent) or -1 (not its client)
  const answers = t.workers ? await t.workers.command({ op: 'send', clientId: id, msg: rest }) : [];
  if (!answers.some((x) => typeof x === 'number' && x >= 0)) return fail(`unknown client ${id}`);
  return json({ sent: answers.some((x) => x === 1) ? 1 : 0 });
}

/** Every command name, for help texts and tests. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/** Run one control message received on `ctx.socket`; never throws. */
export async function runCommand(text: string, ctx: CommandContext): Promise<CommandResult> {
  try {
    const trimmed = text.trim();
    if (trimmed === '') return fail('empty command');
    if (trimmed.startsWith('{')) {
      if (ctx.socket !== 'listener' && ctx.socket !== 'connector') return fail(`JSON messages are accepted on the connector socket, not ${ctx.socket}`);
      if (!ctx.target) return fail(STARTING);
      return await sendToClient(trimmed, ctx.target);
    }
    const cmd = parseCommand(text);
    const spec = Object.hasOwn(COMMANDS, cmd.name) ? COMMANDS[cmd.name] : undefined;
    if (!spec) return fail(`unknown command: ${(cmd.name || trimmed).slice(0, 64)}`);
    if (ctx.socket !== 'listener' && !spec.on.includes(ctx.socket)) {
      return fail(`command ${cmd.name} is not accepted on the ${ctx.socket} socket (the listener socket accepts every command)`);
    }
    if ('free' in spec.run) return await spec.run.free(cmd, ctx);
    if (!ctx.target) return fail(STARTING);
    return await spec.run.pool(cmd, ctx, ctx.target);
  } catch (e) {
    ctx.logger.err(`Control command ${JSON.stringify(text.slice(0, 64))} failed: ${(e as Error).message}`);
    return fail(`internal error: ${(e as Error).message}`);
  }
}
