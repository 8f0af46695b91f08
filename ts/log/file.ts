/**
 * ckpool's main log: `<logdir>/<name>.log`, one `[stamp] msg` line per message.
 *
 * - Everything at or below `level` goes to the file; WARNING and worse is also echoed
 *   to the console (stderr), as ckpool does.
 * - The file is reopened every 60 s, so logrotate's move-and-create works without a
 *   signal (ckpool behaves the same way).
 * - Lines are batched and written with one write per event-loop turn, so debug
 *   logging on a busy pool is not one syscall per line; ERR and worse is written at
 *   once, because it often comes right before the process exits.
 * - Every line passes through redact(), and registered secrets (RPC passwords, ...)
 *   are masked, so credentials never reach the file or the console.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { ensurePrivateDir } from '../safe-files.js';
import { join } from 'node:path';
import { ckErrorCause } from '../errors.js';
import { BaseLogger, LogLevel, redact, stamp } from './logger.js';

export const REOPEN_INTERVAL_MS = 60_000;

export interface FileLoggerOptions {
  /** Created (with parents) if missing. */
  readonly logdir: string;
  /** Instance name: the file is `<logdir>/<name>.log`. */
  readonly name: string;
  /** 0..7; default 5 (NOTICE). */
  readonly level?: number;
  /** Where WARNING and worse are echoed; default process.stderr, null for none. */
  readonly console?: { write(s: string): unknown } | null;
  /** Reopen period; default 60 s. */
  readonly reopenMs?: number;
}

export class FileLogger extends BaseLogger {
  readonly path: string;
  private fd: number;
  private pending = '';
  private flushScheduled = false;
  private readonly console: { write(s: string): unknown } | null;
  private readonly timer: NodeJS.Timeout;
  private readonly secrets = new Set<string>();
  private closed = false;
  private readonly onExit = () => this.flush();

  /** Throws CKP_ERR_CLI_LOGFILE when the directory or file cannot be created. */
  constructor(opts: FileLoggerOptions) {
    super(opts.level ?? LogLevel.NOTICE);
    this.path = join(opts.logdir, `${opts.name}.log`);
    this.console = opts.console === undefined ? process.stderr : opts.console;
    try {
      // ours and not writable by others, so the log file cannot be a planted link
      ensurePrivateDir(opts.logdir, 'logdir');
      this.fd = openSync(this.path, 'a', 0o640);
    } catch (e) {
      throw ckErrorCause('CKP_ERR_CLI_LOGFILE', e, this.path, (e as Error).message);
    }
    // unref: a logger must never be what keeps the process alive.
    this.timer = setInterval(() => this.reopen(), opts.reopenMs ?? REOPEN_INTERVAL_MS);
    this.timer.unref();
    process.on('exit', this.onExit);
  }

  /** Mask this exact string in every later line (ignored if shorter than 4 chars). */
  addSecret(secret: string | undefined): void {
    if (secret && secret.length >= 4) this.secrets.add(secret);
  }

  protected write(level: number, msg: string): void {
    if (this.closed) return;
    const line = `${stamp()} ${this.mask(msg)}\n`;
    this.pending += line;
    if (level <= LogLevel.WARNING && this.console) this.console.write(line);
    if (level <= LogLevel.ERR) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush()).unref();
    }
  }

  private mask(msg: string): string {
    let out = redact(msg);
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }

  /** Write out everything pending now. */
  flush(): void {
    this.flushScheduled = false;
    if (!this.pending || this.closed) return;
    const data = this.pending;
    this.pending = '';
    try {
      writeSync(this.fd, data);
    } catch (e) {
      // A full disk must not take the pool down; say so where someone may see it.
      this.console?.write(`${stamp()} Failed to write to log file ${this.path}: ${(e as Error).message}\n`);
    }
  }

  /**
   * Open the path again (after logrotate moved the old file away). The new file is
   * opened before the old descriptor is closed, so a failure keeps logging going to
   * the old file rather than nowhere.
   */
  reopen(): void {
    if (this.closed) return;
    this.flush();
    let fd: number;
    try {
      fd = openSync(this.path, 'a', 0o640);
    } catch (e) {
      this.console?.write(`${stamp()} Failed to reopen log file ${this.path}: ${(e as Error).message}\n`);
      return;
    }
    const old = this.fd;
    this.fd = fd;
    closeSync(old);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    clearInterval(this.timer);
    process.off('exit', this.onExit);
    closeSync(this.fd);
  }
}
