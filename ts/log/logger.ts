/**
 * Logging with ckpool's syslog-style levels (0 emerg … 7 debug, default 5 notice).
 *
 * Interface fixed here so every module can take a `Logger` at its boundary; the
 * file sink (ckpool's `<logdir>/<name>.log`, reopened every 60 s for rotation) is
 * in ./file.ts. Messages must never contain credentials: pass user-supplied
 * URLs through `redact()` first.
 */
export const LogLevel = {
  EMERG: 0,
  ALERT: 1,
  CRIT: 2,
  ERR: 3,
  WARNING: 4,
  NOTICE: 5,
  INFO: 6,
  DEBUG: 7,
} as const;
export type LogLevelNumber = (typeof LogLevel)[keyof typeof LogLevel];

export interface Logger {
  /** Messages at this level or more severe (lower number) are written. */
  level: number;
  log(level: number, msg: string): void;
  emerg(msg: string): void;
  alert(msg: string): void;
  crit(msg: string): void;
  err(msg: string): void;
  warning(msg: string): void;
  notice(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
}

/** Base class: subclasses implement `write`. */
export abstract class BaseLogger implements Logger {
  constructor(public level: number = LogLevel.NOTICE) {}
  protected abstract write(level: number, msg: string): void;
  log(level: number, msg: string): void {
    if (level <= this.level) this.write(level, msg);
  }
  emerg(msg: string): void { this.log(LogLevel.EMERG, msg); }
  alert(msg: string): void { this.log(LogLevel.ALERT, msg); }
  crit(msg: string): void { this.log(LogLevel.CRIT, msg); }
  err(msg: string): void { this.log(LogLevel.ERR, msg); }
  warning(msg: string): void { this.log(LogLevel.WARNING, msg); }
  notice(msg: string): void { this.log(LogLevel.NOTICE, msg); }
  info(msg: string): void { this.log(LogLevel.INFO, msg); }
  debug(msg: string): void { this.log(LogLevel.DEBUG, msg); }
}

/** `[YYYY-MM-DD HH:MM:SS.mmm]` in local time, as ckpool stamps its log lines. */
export function stamp(d = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `[${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}]`;
}

/** Writes to stderr; used when no log file is configured (library use, tests). */
export class ConsoleLogger extends BaseLogger {
  protected write(_level: number, msg: string): void {
    process.stderr.write(`${stamp()} ${msg}\n`);
  }
}

/** Discards everything (library default). */
export class NullLogger extends BaseLogger {
  constructor() { super(-1); }
  protected write(): void {}
}

/** Collects lines in memory (tests assert on what was logged). */
export class MemoryLogger extends BaseLogger {
  readonly lines: { level: number; msg: string }[] = [];
  constructor(level: number = LogLevel.DEBUG) { super(level); }
  protected write(level: number, msg: string): void { this.lines.push({ level, msg }); }
}

/** Strip `user:pass@` from URLs so credentials never reach a log line. */
export function redact(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]*@/g, '$1***@');
}
