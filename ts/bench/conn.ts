/**
 * One load-generator connection, built to cost the generator as little as possible:
 *
 * - reads go through `onread` into one shared buffer (no Buffer per chunk, no stream
 *   machinery), decoded once as latin1;
 * - lines are found with indexOf and never sliced on the hot path; a submit reply is
 *   classified by cheap substring checks — accepted when `"result":true`, otherwise
 *   rejected with its `reject-reason` or the error triple's message — and matched to
 *   its request by the numeric id for the latency;
 * - submits are pre-built strings (see SubmitTable): sending one is `'{"id":' + id +
 *   tail`, and everything a read triggers goes out in one write;
 * - JSON.parse only for the handshake replies and for mining.notify in throughput mode
 *   (once per job; identical notify lines on many connections are parsed once).
 *
 * Works with any stratum v1 pool: key order and a space after ':' do not matter.
 */
import net from 'node:net';
import tls from 'node:tls';
import { randomBytes } from 'node:crypto';
import { Histogram } from './histogram.js';

/** Request ids: 1 subscribe, 2 authorize; submits from SUBMIT_ID_BASE up. */
export const SUBMIT_ID_BASE = 16;
const SUBMIT_ID_MAX = 0x3fffffff;
/** Send-time slots per connection (power of two; more than any pipeline depth). */
const SLOTS = 4096;
const SLOT_MASK = SLOTS - 1;
/** A partial line longer than this means the peer is not speaking line-based JSON. */
const MAX_PARTIAL = 1 << 20;

/** Every connection reads into this (reads are synchronous, so one buffer serves all). */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

export interface JobInfo {
  jobId: string;
  /** ntime exactly as the notify sent it (hex) */
  ntime: string;
  clean: boolean;
}

let lastNotifyLine = '';
let lastNotifyJob: JobInfo | null = null;

/** Parse a mining.notify line (cached: a pool sends the same line to every client). */
export function parseNotifyLine(line: string): JobInfo | null {
  if (line === lastNotifyLine && lastNotifyJob) return lastNotifyJob;
  try {
    const p = (JSON.parse(line) as { params?: unknown[] }).params;
    if (!Array.isArray(p) || p.length < 9) return null;
    const job = { jobId: String(p[0]), ntime: String(p[7]), clean: p[8] === true };
    lastNotifyLine = line;
    lastNotifyJob = job;
    return job;
  } catch {
    return null;
  }
}

/**
 * Pre-built submit tails for one (worker, job, ntime, extranonce2 size): each is
 * `,"method":"mining.submit","params":[worker,job,en2,ntime,nonce]}\n` with a random
 * extranonce2 and nonce. Connections with the same key share a table (each starts at
 * a random offset); shares still differ because each connection has its own
 * extranonce1. Tables are made when a job is first seen, never on the hot path.
 */
export class SubmitTable {
  static readonly #cache = new Map<string, SubmitTable>();
  readonly tails: string[];
  readonly mask: number;

  private constructor(worker: string, job: JobInfo, en2size: number, size: number) {
    const rnd = randomBytes(size * (en2size + 4));
    const w = JSON.stringify(worker);
    const head = `,"method":"mining.submit","params":[${w},${JSON.stringify(job.jobId)},"`;
    const mid = `","${job.ntime}","`;
    this.tails = new Array<string>(size);
    for (let i = 0, o = 0; i < size; i++) {
      const en2 = rnd.toString('hex', o, o + en2size);
      o += en2size;
      const nonce = rnd.toString('hex', o, o + 4);
      o += 4;
      this.tails[i] = head + en2 + mid + nonce + '"]}\n';
    }
    this.mask = size - 1;
  }

  /** `size` must be a power of two. */
  static for(worker: string, job: JobInfo, en2size: number, size: number): SubmitTable {
    const key = `${worker}\u0000${job.jobId}\u0000${job.ntime}\u0000${en2size}\u0000${size}`;
    let t = SubmitTable.#cache.get(key);
    if (!t) {
      if (SubmitTable.#cache.size >= 16) SubmitTable.#cache.delete(SubmitTable.#cache.keys().next().value!);
      t = new SubmitTable(worker, job, en2size, size);
      SubmitTable.#cache.set(key, t);
    }
    return t;
  }
}

/** A rejection reason and how many replies carried it. */
export interface ReasonCount {
  /** the reason text followed by its closing quote, for startsWith() on the raw line */
  readonly quoted: string;
  readonly reason: string;
  count: number;
}

/** Counters shared by all connections of a run (one object: cheap increments). */
export class LoadStats {
  /** submits are sent while true */
  running = false;
  sent = 0;
  replies = 0;
  accepted = 0;
  rejected = 0;
  readonly reasons: ReasonCount[] = [];
  readonly latency = new Histogram();
  /** stop when `replies` reaches this */
  stopAt = Number.POSITIVE_INFINITY;
  onStop: (() => void) | null = null;
  disconnects = 0;
  reconnectRequests = 0;
  notifies = 0;

  /** Count the reason whose text starts at s[k] (ending at the next quote). */
  reasonAt(s: string, k: number): void {
    const rs = this.reasons;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if (s.startsWith(r.quoted, k)) {
        r.count++;
        return;
      }
    }
    let end = s.indexOf('"', k);
    if (end === -1) end = s.length;
    const reason = s.slice(k, end);
    rs.push({ quoted: reason + '"', reason, count: 1 });
  }

  reason(label: string): void {
    const r = this.reasons.find((x) => x.reason === label);
    if (r) r.count++;
    else this.reasons.push({ quoted: label + '"', reason: label, count: 1 });
  }

  reasonCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.reasons) out[r.reason] = r.count;
    return out;
  }
}

export interface ConnOptions {
  host: string;
  port: number;
  /** source address to connect from (spreads many connections over 127.0.0.x) */
  localAddress?: string;
  worker: string;
  password: string;
  agent: string;
  /** stratum over TLS (a stratum+ssl:// port); the certificate is not verified: a load generator, not a miner */
  tls?: boolean;
}

export interface ConnHooks {
  /** authorize answered true */
  authorized?(c: BenchConn): void;
  /** the first mining.notify arrived */
  work?(c: BenchConn): void;
  /** a clean mining.notify arrived while `watchClean` was set */
  clean?(c: BenchConn): void;
  /** the connection failed before it was authorized, or authorize was refused */
  failed?(c: BenchConn): void;
  /** the connection closed after it was authorized */
  closed?(c: BenchConn): void;
}

/** Load settings of a throughput connection. */
export interface LoadSettings {
  stats: LoadStats;
  pipeline: number;
  /** submit table size, a power of two */
  tableSize: number;
  /**
   * Send-time slots per connection for the latency (a power of two above the pipeline
   * depth; default 4096). Paced runs with one share in flight use a few: 100,000
   * connections × 4096 slots would be 3.2 GB.
   */
  slots?: number;
}

const isDigit = (c: number) => c >= 48 && c <= 57;

export class BenchConn {
  readonly socket: net.Socket;
  readonly index: number;
  readonly opts: ConnOptions;
  readonly hooks: ConnHooks;
  /** performance.now() of each step; 0 = not yet */
  startedAt = 0;
  connectedAt = 0;
  authorizedAt = 0;
  workAt = 0;
  cleanAt = 0;
  /** record the next clean notify in cleanAt (broadcast mode) */
  watchClean = false;
  extranonce1 = '';
  en2size = -1;
  difficulty = 0;
  job: JobInfo | null = null;
  authorized = false;
  failure: string | null = null;
  closed = false;
  #errorCode = '';
  #rest = '';
  #out = '';
  // throughput
  #load: LoadSettings | null = null;
  #table: SubmitTable | null = null;
  #k = 0;
  #nextId = SUBMIT_ID_BASE;
  #inflight = 0;
  #sentAt: Float64Array | null = null;
  #slotMask = SLOT_MASK;

  constructor(index: number, opts: ConnOptions, hooks: ConnHooks, load: LoadSettings | null = null) {
    this.index = index;
    this.opts = opts;
    this.hooks = hooks;
    this.#load = load;
    if (load) {
      const slots = load.slots ?? SLOTS;
      this.#sentAt = new Float64Array(slots);
      this.#slotMask = slots - 1;
    }
    this.startedAt = performance.now();
    if (opts.tls) {
      // TLS sockets cannot read through `onread`: their decrypted bytes come as 'data'
      const tcp = net.connect({ host: opts.host, port: opts.port, localAddress: opts.localAddress });
      tcp.on('error', (e: NodeJS.ErrnoException) => {
        if (!this.#errorCode) this.#errorCode = e.code ?? e.message;
      });
      this.socket = tls.connect({ socket: tcp, rejectUnauthorized: false, minVersion: 'TLSv1.2' });
      this.socket.setNoDelay(true);
      this.socket.on('data', (buf: Buffer) => this.#onRead(buf.length, buf));
    } else {
      this.socket = net.connect({
        host: opts.host,
        port: opts.port,
        localAddress: opts.localAddress,
        noDelay: true,
        onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => { this.#onRead(n, buf as Buffer); return true; } },
      });
    }
    // connected = the TLS handshake done, for a TLS port
    this.socket.on(opts.tls ? 'secureConnect' : 'connect', () => {
      this.connectedAt = performance.now();
      const w = JSON.stringify(opts.worker);
      const p = JSON.stringify(opts.password);
      this.socket.write(
        `{"id":1,"method":"mining.subscribe","params":[${JSON.stringify(opts.agent)}]}\n` +
        `{"id":2,"method":"mining.authorize","params":[${w},${p}]}\n`, 'latin1');
    });
    this.socket.on('error', (e: NodeJS.ErrnoException) => {
      if (!this.#errorCode) this.#errorCode = e.code ?? e.message;
    });
    this.socket.on('close', () => this.#onClose());
  }

  /** Stop and drop the connection (no more hooks). */
  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  get inflight(): number {
    return this.#inflight;
  }

  #fail(reason: string): void {
    if (this.failure || this.closed) return;
    this.failure = reason;
    this.hooks.failed?.(this);
  }

  #onClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.authorized) {
      this.failure ??= this.#errorCode ? `socket error ${this.#errorCode}` : this.connectedAt ? 'closed by the pool before authorize' : 'connection closed';
      this.hooks.failed?.(this);
    } else {
      if (this.#load) this.#load.stats.disconnects++;
      this.hooks.closed?.(this);
    }
  }

  #onRead(n: number, buf: Buffer): void {
    const now = performance.now();
    let s = buf.toString('latin1', 0, n);
    if (this.#rest) {
      s = this.#rest + s;
      this.#rest = '';
    }
    let a = 0;
    let nl: number;
    while ((nl = s.indexOf('\n', a)) !== -1) {
      if (nl > a + 1) this.#line(s, a, nl, now);
      a = nl + 1;
    }
    if (a < s.length) {
      this.#rest = a === 0 ? s : s.slice(a);
      if (this.#rest.length > MAX_PARTIAL) {
        this.#fail('line too long (not a stratum server?)');
        this.destroy();
        return;
      }
    }
    if (this.#out) {
      this.socket.write(this.#out, 'latin1');
      this.#out = '';
    }
  }

  /** One line s[a, b). */
  #line(s: string, a: number, b: number, now: number): void {
    let p: number;
    if (s.startsWith('{"id":', a)) {
      p = a + 6;
    } else {
      p = s.indexOf('"id"', a);
      if (p === -1 || p >= b) return this.#message(s, a, b, now);
      p += 4;
      while (s.charCodeAt(p) === 32) p++;
      if (s.charCodeAt(p) !== 58) return this.#message(s, a, b, now); // ':'
      p++;
      while (s.charCodeAt(p) === 32) p++;
    }
    let c = s.charCodeAt(p);
    if (!isDigit(c)) return this.#message(s, a, b, now);
    let id = 0;
    do {
      id = id * 10 + (c - 48);
      c = s.charCodeAt(++p);
    } while (isDigit(c));
    if (id >= SUBMIT_ID_BASE && this.#load) this.#submitReply(id, s, a, b, now);
    else this.#handshakeReply(id, s.slice(a, b), now);
  }

  #submitReply(id: number, s: string, a: number, b: number, now: number): void {
    const st = this.#load!.stats;
    st.replies++;
    this.#inflight--;
    const sentAt = this.#sentAt![id & this.#slotMask]!;
    if (sentAt > 0) st.latency.recordMs(now - sentAt);
    let r = s.indexOf('"result"', a);
    if (r !== -1 && r < b) {
      r += 8;
      while (s.charCodeAt(r) === 32 || s.charCodeAt(r) === 58) r++;
      if (s.charCodeAt(r) === 116) st.accepted++; // t(rue)
      else this.#rejected(st, s, a, b);
    } else {
      this.#rejected(st, s, a, b);
    }
    if (st.running) this.#send(now);
    if (st.replies >= st.stopAt) st.onStop?.();
  }

  #rejected(st: LoadStats, s: string, a: number, b: number): void {
    st.rejected++;
    // ckpool and ckpool-ts: "reject-reason":"Above target"
    let k = s.indexOf('"reject-reason"', a);
    if (k !== -1 && k < b) {
      k += 15;
      while (s.charCodeAt(k) === 32 || s.charCodeAt(k) === 58) k++;
      if (s.charCodeAt(k) === 34) return st.reasonAt(s, k + 1);
    }
    // others: "error":[23,"Low difficulty share",null] or "error":{"code":23,"message":"…"}
    let e = s.indexOf('"error"', a);
    if (e !== -1 && e < b) {
      e += 7;
      while (s.charCodeAt(e) === 32 || s.charCodeAt(e) === 58) e++;
      const c = s.charCodeAt(e);
      if (c === 91) { // [code, "message", …]
        const q = s.indexOf('"', e);
        if (q !== -1 && q < b) return st.reasonAt(s, q + 1);
      } else if (c === 123) { // {"code":…, "message":"…"}
        let m = s.indexOf('"message"', e);
        if (m !== -1 && m < b) {
          m += 9;
          while (s.charCodeAt(m) === 32 || s.charCodeAt(m) === 58) m++;
          if (s.charCodeAt(m) === 34) return st.reasonAt(s, m + 1);
        }
      } else if (c === 34) {
        return st.reasonAt(s, e + 1);
      }
    }
    st.reason('rejected (no reason given)');
  }

  #send(now: number): void {
    const id = this.#nextId;
    this.#nextId = id >= SUBMIT_ID_MAX ? SUBMIT_ID_BASE : id + 1;
    this.#sentAt![id & this.#slotMask] = now;
    const t = this.#table!;
    this.#out += '{"id":' + id + t.tails[this.#k++ & t.mask]!;
    this.#inflight++;
    this.#load!.stats.sent++;
  }

  #handshakeReply(id: number, line: string, now: number): void {
    let msg: { result?: unknown; error?: unknown };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (id === 1) {
      const r = msg.result;
      if (!Array.isArray(r) || typeof r[1] !== 'string' || typeof r[2] !== 'number') {
        this.#fail(`subscribe refused: ${JSON.stringify(msg.error ?? msg.result)}`);
        this.destroy();
        return;
      }
      this.extranonce1 = r[1];
      this.en2size = r[2];
    } else if (id === 2) {
      if (msg.result !== true) {
        this.#fail(`authorize refused: ${JSON.stringify(msg.error ?? msg.result)}`);
        this.destroy();
        return;
      }
      this.authorized = true;
      this.authorizedAt = now;
      this.hooks.authorized?.(this);
      this.#maybeStartLoad(now);
    }
  }

  #message(s: string, a: number, b: number, now: number): void {
    const m = s.indexOf('"mining.notify"', a);
    if (m !== -1 && m < b) return this.#notify(s, a, b, now);
    const d = s.indexOf('"mining.set_difficulty"', a);
    if (d !== -1 && d < b) {
      const line = s.slice(a, b);
      try {
        const v = Number((JSON.parse(line) as { params: unknown[] }).params[0]);
        if (Number.isFinite(v)) this.difficulty = v;
      } catch {
        /* ignore */
      }
      return;
    }
    const r = s.indexOf('"client.reconnect"', a);
    if (r !== -1 && r < b && this.#load) this.#load.stats.reconnectRequests++;
  }

  #notify(s: string, a: number, b: number, now: number): void {
    if (this.#load) this.#load.stats.notifies++;
    if (this.workAt === 0) {
      this.workAt = now;
      this.hooks.work?.(this);
    }
    if (this.watchClean && this.cleanAt === 0) {
      // the clean flag is the only JSON boolean in a notify: params end with true] or false]
      const t = s.lastIndexOf('true', b);
      if (t > a) {
        this.cleanAt = now;
        this.hooks.clean?.(this);
      }
    }
    if (this.#load) {
      const job = parseNotifyLine(s.slice(a, b));
      if (!job) return;
      this.job = job;
      if (this.en2size >= 0) this.#table = SubmitTable.for(this.opts.worker, job, this.en2size, this.#load.tableSize);
      this.#maybeStartLoad(now);
    }
  }

  #started = false;

  #maybeStartLoad(now: number): void {
    const load = this.#load;
    if (this.#started || !load || !this.authorized || !this.job || this.en2size < 0) return;
    this.#table ??= SubmitTable.for(this.opts.worker, this.job, this.en2size, load.tableSize);
    this.#k = Math.floor(Math.random() * this.#table.tails.length);
    this.#started = true;
    if (!load.stats.running) return;
    for (let i = 0; i < load.pipeline; i++) this.#send(now);
    // inside a read: #onRead flushes #out; from elsewhere (start()), flush here
  }

  /**
   * One submit now, outside any pipeline (paced runs: `running` stays false so a reply
   * starts nothing). False when the connection holds no job yet or is closed.
   */
  submitOne(): boolean {
    if (!this.#started || this.closed || this.#table === null) return false;
    this.#send(performance.now());
    this.socket.write(this.#out, 'latin1');
    this.#out = '';
    return true;
  }

  /** Start (or restart) the pipeline: P submits in flight (throughput mode, after `running` is set). */
  fill(): void {
    const load = this.#load;
    if (!load || !this.#started || this.closed) return;
    const now = performance.now();
    while (this.#inflight < load.pipeline) this.#send(now);
    if (this.#out) {
      this.socket.write(this.#out, 'latin1');
      this.#out = '';
    }
  }
}
