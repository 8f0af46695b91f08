/**
 * Newline-delimited framing for stratum (ckpool connector.c:parse_client_msg).
 *
 * Lines end with `\n`; a `\r` before it is stripped; empty lines are skipped.
 * A line longer than `maxLineBytes`, or more than `maxLineBytes` buffered with
 * no newline yet, is an error (ckpool's MAX_MSGSIZE = 1024 drops the client).
 * Lines before the bad one in the same chunk are still delivered, in order, as
 * ckpool does.
 *
 * Shared by the server (one partial buffer per client, kept on the client object
 * itself) and by upstream clients of the proxy modes (LineFramer).
 */

/** Outcome of feeding one chunk. */
export const FeedResult = {
  /** Every complete line was delivered; any tail is kept for the next chunk. */
  OK: 0,
  /** `onLine` returned false: the rest of the chunk was discarded. */
  STOPPED: 1,
  /** A line (or an unterminated tail) exceeded the limit; nothing after it was delivered. */
  TOO_LONG: 2,
} as const;
export type FeedResult = (typeof FeedResult)[keyof typeof FeedResult];

/** Where the unterminated tail of the previous chunk lives between calls. */
export interface PartialHolder {
  partial: Buffer | null;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Split `chunk` (appended to `holder.partial`) into lines and call
 * `onLine(ctx, line)` for each non-empty one; `onLine` returns false to stop.
 * The tail without a newline is copied into `holder.partial` (so the large
 * socket chunk is not retained by a small remainder).
 */
export function feedLines<C>(
  holder: PartialHolder,
  chunk: Buffer,
  maxLineBytes: number,
  ctx: C,
  onLine: (ctx: C, line: string) => boolean,
): FeedResult {
  let buf = chunk;
  let searchFrom = 0;
  const prev = holder.partial;
  if (prev !== null) {
    holder.partial = null;
    buf = Buffer.concat([prev, chunk], prev.length + chunk.length);
    searchFrom = prev.length; // the old tail holds no newline
  }
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(LF, searchFrom);
    if (nl < 0) break;
    const lineStart = start;
    let end = nl;
    if (end > lineStart && buf[end - 1] === CR) end--;
    if (end - lineStart > maxLineBytes) return FeedResult.TOO_LONG;
    start = nl + 1;
    searchFrom = start;
    if (end > lineStart && !onLine(ctx, buf.toString('utf8', lineStart, end))) return FeedResult.STOPPED;
  }
  const rest = buf.length - start;
  if (rest === 0) return FeedResult.OK;
  // +1: a line of exactly maxLineBytes may be waiting for the '\n' after its '\r'.
  if (rest > maxLineBytes + 1) return FeedResult.TOO_LONG;
  // Keep an exactly-sized concat result as is; copy a tail out of a socket chunk.
  holder.partial = start === 0 && buf !== chunk ? buf : Buffer.from(buf.subarray(start));
  return FeedResult.OK;
}

/** Stand-alone framer (one partial buffer) for code that is not the server. */
export class LineFramer implements PartialHolder {
  partial: Buffer | null = null;
  constructor(readonly maxLineBytes: number) {}
  /** Bytes held waiting for a newline. */
  get buffered(): number {
    return this.partial === null ? 0 : this.partial.length;
  }
  feed<C>(chunk: Buffer, ctx: C, onLine: (ctx: C, line: string) => boolean): FeedResult {
    return feedLines(this, chunk, this.maxLineBytes, ctx, onLine);
  }
  reset(): void {
    this.partial = null;
  }
}

/**
 * Where the server keeps a connection's unread input between turns: `input[inputPos..]`
 * may hold complete lines not handled yet (the fair scheduler hands out a few per turn,
 * ts/stratum/fairness.ts) followed by an unterminated tail.
 */
export interface InputHolder {
  input: Buffer | null;
  inputPos: number;
}

/** Outcome of frameLines. */
export const FrameResult = {
  /** No complete line is left (an unterminated tail may be kept). */
  DONE: 0,
  /** `maxLines` were delivered and at least one more complete line is waiting. */
  MORE: 1,
  /** `onLine` returned false: the input was discarded. */
  STOPPED: 2,
  /** A line (or an unterminated tail) exceeded the limit. */
  TOO_LONG: 3,
} as const;
export type FrameResult = (typeof FrameResult)[keyof typeof FrameResult];

/**
 * Deliver at most `maxLines` non-empty lines from `holder.input[holder.inputPos..]`,
 * leaving the rest where it is (the caller copies it out of a shared read buffer).
 * Same rules as feedLines: `\r\n` and `\n` endings, empty lines skipped, a line or a
 * tail over `maxLineBytes` is an error.
 */
export function frameLines<C>(
  holder: InputHolder,
  maxLines: number,
  maxLineBytes: number,
  ctx: C,
  onLine: (ctx: C, line: string) => boolean,
): FrameResult {
  const buf = holder.input;
  if (buf === null) return FrameResult.DONE;
  let start = holder.inputPos;
  let n = 0;
  for (;;) {
    const nl = buf.indexOf(LF, start);
    if (nl < 0) break;
    if (n >= maxLines) {
      holder.inputPos = start;
      return FrameResult.MORE;
    }
    const lineStart = start;
    let end = nl;
    if (end > lineStart && buf[end - 1] === CR) end--;
    if (end - lineStart > maxLineBytes) return FrameResult.TOO_LONG;
    start = nl + 1;
    if (end > lineStart) {
      n++;
      if (!onLine(ctx, buf.toString('utf8', lineStart, end))) {
        holder.input = null;
        holder.inputPos = 0;
        return FrameResult.STOPPED;
      }
    }
  }
  const rest = buf.length - start;
  if (rest === 0) {
    holder.input = null;
    holder.inputPos = 0;
    return FrameResult.DONE;
  }
  // +1: a line of exactly maxLineBytes may be waiting for the '\n' after its '\r'.
  if (rest > maxLineBytes + 1) return FrameResult.TOO_LONG;
  holder.inputPos = start;
  return FrameResult.DONE;
}
