/**
 * Fuzz target: a miner's bytes through stratum framing (ts/stratum/framing.ts feedLines,
 * as the server feeds them, 1024-byte line limit like ckpool) and the stratifier's
 * dispatch (ts/pool/stratifier.ts message) with share judging, on a real Stratifier and
 * a real Workbase: the first recorded job of test/fixtures/share-vectors.json served by
 * test/helpers/static-work.ts, with that job's extranonce1, so the recorded share in the
 * seed corpus is valid and the accept and block paths are reached.
 *
 * The connection is a harness object that records what the stratifier sends (no socket:
 * what is under test is the parsing and dispatch; the server's own socket handling has
 * its tests in test/stratum-server.test.ts). Each input is one miner: connect, every
 * line, one turn of the event loop (the share batch is judged on setImmediate), close.
 *
 * Invariants: nothing throws out of message() or the batch judging; every reply is one
 * JSON object line; the output per input stays bounded; a closed client gets no more.
 */
import { readFileSync } from 'node:fs';
import { feedLines, FeedResult, type PartialHolder } from '../../ts/stratum/framing.js';
import { Stratifier } from '../../ts/pool/stratifier.js';
import type { StratumConnection } from '../../ts/stratum/server.js';
import { Workbase } from '../../ts/work/workbase.js';
import { StaticWorkSource } from '../helpers/static-work.js';
import { check } from './invariant.js';

const vectors = JSON.parse(readFileSync(new URL('../fixtures/share-vectors.json', import.meta.url), 'utf8')).vectors;
const v = vectors[0];
/** ckpool's MAX_MSGSIZE */
const MAX_LINE = 1024;
/** a generous bound: a notify is under 1 KiB; no reply here carries transactions */
const MAX_OUT_PER_LINE = 4096;

export const EPOCH = 0x6b049b0a;
export const source = new StaticWorkSource();
export const stratifier = new Stratifier({
  generator: source, solo: false, mindiff: 1, startdiff: 1, highdiff: 1, maxdiff: 0,
  nonce1length: v.extranonce1.length / 2, nonce2length: v.extranonce2_size, enonce1Prefix: v.extranonce1,
  versionMask: 0x1fffe000, updateInterval: 30, invalidBurst: 50,
});
source.push(new Workbase({ notify: v.notify, seq: 1, epoch: EPOCH, nonce1length: v.extranonce1.length / 2, nonce2length: v.extranonce2_size }));
/** the pool's job id for the recorded job (what a seed's mining.submit names) */
export const JOB_ID = source.current!.jobId;

class RecordingConnection implements StratumConnection, PartialHolder {
  readonly address = '127.0.0.1';
  readonly port = 1;
  readonly serverIndex = 0;
  readonly highdiff = false;
  readonly connectedAt = Date.now();
  closed = false;
  closeReason: string | undefined = undefined;
  state: unknown = null;
  partial: Buffer | null = null;
  sent = 0;
  lines = 0;
  sentAfterClose = 0;
  constructor(readonly id: number) {}
  send(line: string | Uint8Array): boolean {
    if (this.closed) {
      this.sentAfterClose++;
      return false;
    }
    const text = typeof line === 'string' ? line : Buffer.from(line).toString('utf8');
    for (const l of text.split('\n')) {
      if (l === '') continue;
      const m: unknown = JSON.parse(l); // a malformed reply throws: a finding
      check(m !== null && typeof m === 'object' && !Array.isArray(m), `reply is not a JSON object: ${l.slice(0, 200)}`);
    }
    this.sent += text.length;
    return true;
  }
  sendJson(msg: unknown): boolean {
    return this.send(JSON.stringify(msg) + '\n');
  }
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
  }
}

let nextId = 1;

/** The server's line handling (ts/stratum/server.ts _onLine), minus flood tokens and logging. */
function onLine(conn: RecordingConnection, line: string): boolean {
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    if (line.trim() === '') return true;
    conn.close('invalid json');
    return false;
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    conn.close('not an object');
    return false;
  }
  conn.lines++;
  stratifier.message(conn, msg as Record<string, unknown>);
  return !conn.closed;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function fuzz(data: Buffer): Promise<void> {
  const conn = new RecordingConnection(nextId++);
  stratifier.connect(conn);
  try {
    // the first byte cuts the input into two socket chunks (a line split across reads)
    const cut = data.length > 1 ? 1 + (data[0]! % (data.length - 1)) : data.length;
    for (const chunk of [data.subarray(1, cut), data.subarray(cut)]) {
      if (conn.closed) break;
      const r = feedLines(conn, chunk, MAX_LINE, conn, onLine);
      if (r === FeedResult.TOO_LONG) conn.close('line too long');
      check(conn.partial === null || conn.partial.length <= MAX_LINE + 1, 'framing kept more than a line');
    }
    await turn(); // the share batch is judged on setImmediate; its replies go out then
    check(conn.sent <= MAX_OUT_PER_LINE * (conn.lines + 2), `output unbounded: ${conn.sent} bytes for ${conn.lines} lines`);
  } finally {
    stratifier.disconnect(conn, 'fuzz input done');
    conn.close('fuzz input done');
  }
}
