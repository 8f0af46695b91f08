/**
 * ckpool's `-L` share logs: one JSON object per line for every share that reached the
 * job lookup (accepted or rejected, not malformed submits), appended to
 * `<logdir>/<height as %08x>/<workbase id as %016lx>.sharelog` (stratifier.c
 * parse_submit, add_base).
 *
 * Lines are formatted at once but written in batches: everything appended during one
 * event-loop turn goes out with one append per file, in order. The share path never
 * throws and never waits: a bad entry or a failed write is logged (CKP_ERR_STATS_*
 * codes) and the share is dropped from the log, and if the disk cannot keep up the
 * backlog is capped (oldest kept, newest dropped, counted in the log).
 */
import { appendFile } from 'node:fs/promises';
import { ensurePrivateDir } from '../safe-files.js';
import { dirname, join } from 'node:path';
import { ckError, ckErrorCause } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import { J, dumpJson, type JVal } from './format.js';

/** One share-log line's fields, in ckpool's names (see §10.4). */
export interface ShareLogEntry {
  /**
   * The workbase id as an integer (ckpool: the same number as the file name). Default:
   * the file's hex workbase id read as an unsigned 64-bit number. A string must be a
   * decimal integer.
   */
  readonly workinfoid?: number | bigint | string;
  readonly clientid: number | bigint;
  readonly enonce1: string;
  readonly nonce2: string;
  readonly nonce: string;
  readonly ntime: string;
  /** Credited difficulty. */
  readonly diff: number;
  /** Share difficulty; -1 if never hashed. */
  readonly sdiff: number;
  /** Share hash in RPC (display) order; "" if never hashed. */
  readonly hash: string;
  readonly result: boolean;
  /** Written as "reject-reason"; leave undefined for accepted shares. */
  readonly rejectReason?: string;
  /** Written only when set. */
  readonly error?: string;
  /** ckpool's share_err: 0 valid, 1 invalid jobid, 2 stale, 3 ntime, 4 dupe, 5 above target, 6 version mask. */
  readonly errn: number;
  /** "sec,nsec"; default: the time of append(). */
  readonly createdate?: string;
  /** The serverurl the client connected to. */
  readonly createinet: string;
  readonly workername: string;
  readonly username: string;
  readonly address: string;
  readonly agent: string;
}

export interface ShareLogOptions {
  /** Lines waiting to be written before new ones are dropped (default 200 000). */
  readonly maxBacklog?: number;
}

/** "sec,nsec" from a time in ms (fractions of a ms kept), as ckpool's createdate. */
export function formatCreatedate(ms: number): string {
  const s = Math.floor(ms / 1000);
  const ns = Math.round((ms - s * 1000) * 1e6);
  return `${s},${Math.min(ns, 999_999_999)}`;
}

const HEX16 = /^[0-9a-fA-F]{1,16}$/;
const DECIMAL = /^-?\d{1,20}$/;

/** The share-log file for a block height and workbase id (hex, up to 16 digits). */
export function shareLogPath(logdir: string, height: number, workinfoid: string): string {
  return join(logdir, (height >>> 0).toString(16).padStart(8, '0'), `${workinfoid.toLowerCase().padStart(16, '0')}.sharelog`);
}

/** Format one line (with its newline) exactly as ckpool's json_dumps(val, JSON_EOL). Throws on bad input. */
export function formatShareLogLine(workinfoidHex: string, entry: ShareLogEntry): string {
  let wid: JVal;
  const w = entry.workinfoid;
  if (w === undefined) wid = J.int(BigInt(`0x${workinfoidHex}`));
  else if (typeof w === 'bigint') wid = J.int(w);
  else if (typeof w === 'number' && Number.isInteger(w)) wid = J.int(w);
  else if (typeof w === 'string' && DECIMAL.test(w)) wid = J.int(BigInt(w));
  else throw new Error(`workinfoid ${String(w)} is not an integer`);
  const cid = entry.clientid;
  if (!(typeof cid === 'bigint' || Number.isInteger(cid))) throw new Error(`clientid ${String(cid)} is not an integer`);
  if (!Number.isInteger(entry.errn)) throw new Error(`errn ${String(entry.errn)} is not an integer`);

  const fields: Array<[string, JVal]> = [
    ['workinfoid', wid],
    ['clientid', J.int(cid)],
    ['enonce1', J.str(String(entry.enonce1 ?? ''))],
    ['nonce2', J.str(String(entry.nonce2 ?? ''))],
    ['nonce', J.str(String(entry.nonce ?? ''))],
    ['ntime', J.str(String(entry.ntime ?? ''))],
    ['diff', J.real(Number(entry.diff))],
    ['sdiff', J.real(Number(entry.sdiff))],
    ['hash', J.str(String(entry.hash ?? ''))],
    ['result', J.bool(entry.result === true)],
  ];
  if (entry.rejectReason !== undefined && entry.rejectReason !== null) fields.push(['reject-reason', J.str(String(entry.rejectReason))]);
  if (entry.error !== undefined && entry.error !== null) fields.push(['error', J.str(String(entry.error))]);
  fields.push(
    ['errn', J.int(entry.errn)],
    ['createdate', J.str(entry.createdate ?? formatCreatedate(Date.now()))],
    ['createby', J.str('code')],
    ['createcode', J.str('parse_submit')],
    ['createinet', J.str(String(entry.createinet ?? ''))],
    ['workername', J.str(String(entry.workername ?? ''))],
    ['username', J.str(String(entry.username ?? ''))],
    ['address', J.str(String(entry.address ?? ''))],
    ['agent', J.str(String(entry.agent ?? ''))],
  );
  return `${dumpJson(J.obj(fields))}\n`;
}

export class ShareLog {
  readonly logdir: string;
  private readonly logger: Logger;
  private readonly maxBacklog: number;
  private pending = new Map<string, string[]>();
  private pendingLines = 0;
  private inflightLines = 0;
  private dropped = 0;
  private scheduled = false;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly dirs = new Set<string>();

  constructor(logdir: string, logger?: Logger, opts: ShareLogOptions = {}) {
    if (typeof logdir !== 'string' || logdir.length === 0) {
      throw ckError('CKP_ERR_STATS_OPTION', 'logdir', 'must be a non-empty directory path');
    }
    const max = opts.maxBacklog ?? 200_000;
    if (!(Number.isInteger(max) && max > 0)) {
      throw ckError('CKP_ERR_STATS_OPTION', 'maxBacklog', `must be a positive integer, got ${String(max)}`);
    }
    this.logdir = logdir;
    this.logger = logger ?? new NullLogger();
    this.maxBacklog = max;
  }

  /** Lines appended but not yet written. */
  get backlog(): number {
    return this.pendingLines + this.inflightLines;
  }

  /**
   * Queue one share's line for `<logdir>/<height %08x>/<workinfoid>.sharelog`.
   * `workinfoid` is the workbase id in hex (ckpool's job id, up to 16 digits).
   * Never throws.
   */
  append(height: number, workinfoid: string, entry: ShareLogEntry): void {
    try {
      if (this.closed) {
        this.logger.debug(ckError('CKP_ERR_STATS_SHARELOG_CLOSED', this.logdir).message);
        return;
      }
      if (!Number.isInteger(height) || height < 0 || height > 0xffffffff) throw new Error(`height ${String(height)} is not a block height`);
      if (typeof workinfoid !== 'string' || !HEX16.test(workinfoid)) throw new Error(`workbase id ${JSON.stringify(workinfoid)} is not 1-16 hex digits`);
      const line = formatShareLogLine(workinfoid, entry);
      if (this.backlog >= this.maxBacklog) {
        this.dropped++;
        this.schedule();
        return;
      }
      const file = shareLogPath(this.logdir, height, workinfoid);
      let lines = this.pending.get(file);
      if (!lines) this.pending.set(file, (lines = []));
      lines.push(line);
      this.pendingLines++;
      this.schedule();
    } catch (e) {
      try {
        this.logger.err(ckErrorCause('CKP_ERR_STATS_SHARELOG_ENTRY', e, (e as Error)?.message ?? String(e)).message);
      } catch { /* never throw on the share path */ }
    }
  }

  /** Write everything appended so far; resolves when it is on disk (errors are logged). */
  flush(): Promise<void> {
    const batch = this.pending;
    const count = this.pendingLines;
    const dropped = this.dropped;
    this.pending = new Map();
    this.pendingLines = 0;
    this.dropped = 0;
    this.inflightLines += count;
    if (dropped) this.logger.err(ckError('CKP_ERR_STATS_SHARELOG_BACKLOG', this.maxBacklog, dropped).message);
    if (!count) return this.chain;
    this.chain = this.chain.then(() => this.write(batch)).finally(() => { this.inflightLines -= count; });
    return this.chain;
  }

  /** Flush and stop accepting lines. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async write(batch: Map<string, string[]>): Promise<void> {
    for (const [file, lines] of batch) {
      try {
        const dir = dirname(file);
        if (!this.dirs.has(dir)) {
          ensurePrivateDir(dir, 'share log dir'); // ours, not writable by others (safe-files.ts)
          this.dirs.add(dir);
          if (this.dirs.size > 1000) this.dirs.clear();
        }
        await appendFile(file, lines.join(''));
      } catch (e) {
        this.logger.err(ckErrorCause('CKP_ERR_STATS_SHARELOG_WRITE', e, lines.length, file, (e as Error).message).message);
      }
    }
  }
}
