/**
 * Fuzz target: one control-socket connection's bytes (ts/control/framing.ts FrameDecoder,
 * 64 KiB request cap) and the command it carries (ts/control/commands.ts parseCommand and
 * runCommand), with no pool attached (a pool still starting: the state every command must
 * also answer in). The first byte picks the socket the bytes came in on and where the
 * bytes are cut into two reads.
 *
 * Invariants: the decoder throws only CKP_ERR_CONTROL_FRAME / _TOO_BIG and holds no more
 * than its cap; runCommand never throws and never answers "internal error" (that is an
 * exception inside a command); the reply is bounded; shutdown/restart only for the
 * commands that mean it.
 */
import { FrameDecoder, DEFAULT_MAX_REQUEST_BYTES } from '../../ts/control/framing.js';
import { parseCommand, runCommand, type CommandContext } from '../../ts/control/commands.js';
import { SOCKET_NAMES } from '../../ts/control/paths.js';
import { BaseLogger, LogLevel } from '../../ts/log/logger.js';
import { allowKnown, check } from './invariant.js';

class ErrLogger extends BaseLogger {
  readonly errors: string[] = [];
  constructor() { super(LogLevel.DEBUG); }
  protected write(level: number, msg: string): void {
    if (level <= LogLevel.ERR) this.errors.push(msg);
  }
}

export async function fuzz(data: Buffer): Promise<void> {
  if (data.length === 0) return;
  const socket = SOCKET_NAMES[data[0]! % SOCKET_NAMES.length]!;
  const bytes = data.subarray(1);
  const cut = bytes.length ? data[0]! % (bytes.length + 1) : 0;
  const dec = new FrameDecoder(DEFAULT_MAX_REQUEST_BYTES);
  let body: Buffer | null = null;
  for (const chunk of [bytes.subarray(0, cut), bytes.subarray(cut)]) {
    const r = allowKnown(() => dec.push(chunk));
    if (r instanceof Error) {
      check(r.code === 'CKP_ERR_CONTROL_FRAME' || r.code === 'CKP_ERR_CONTROL_TOO_BIG', `frame error ${r.code}`);
      break;
    }
    check(dec.received <= 4 + DEFAULT_MAX_REQUEST_BYTES, 'decoder holds more than its cap');
    if (r !== null) {
      body = r;
      break;
    }
  }
  // the command layer sees every text, framed or not (ckpmsg-style senders differ)
  const text = (body ?? bytes).toString('utf8');
  const parsed = parseCommand(text);
  check(typeof parsed.name === 'string' && typeof parsed.arg === 'string', 'parseCommand shape');
  const logger = new ErrLogger();
  let shutdowns = 0;
  const ctx: CommandContext = {
    socket, target: null, logger, startedAt: Date.now() - 1000, counters: { shares: 0 },
    shutdown: () => { shutdowns++; }, restart: () => { shutdowns++; }, now: Date.now(),
  };
  const res = await runCommand(text, ctx);
  check(typeof res.reply === 'string', 'reply is not a string');
  check(res.reply.length <= 4096, `reply of ${res.reply.length} chars with no pool attached`);
  check(logger.errors.length === 0 && !res.reply.includes('internal error'), `a command threw: ${logger.errors.join('; ')}`);
  res.after?.();
  if (shutdowns > 0) check(/^(shutdown|restart)/.test(parsed.name), `${parsed.name} shut the instance down`);
}
