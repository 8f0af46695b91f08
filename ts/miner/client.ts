/**
 * A small stratum v1 client: the test miner of the test suite and the building block
 * of the ckpool-bench load generator. Real TCP, newline-delimited JSON, requests
 * matched to replies by id, server messages as events. `grind()` finds shares with
 * the native hasher, so a test can mine real shares and real (regtest) blocks.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { ShareChecker } from '../native/share.js';

export interface StratumReply {
  id: unknown;
  result: unknown;
  error: unknown;
  'reject-reason'?: string;
}

export interface Job {
  params: unknown[];
  jobId: string;
  clean: boolean;
  ntime: number;
}

export interface ClientEvents {
  notify: [job: Job];
  difficulty: [diff: number];
  message: [msg: Record<string, unknown>];
  close: [];
}

export class StratumClient extends EventEmitter<ClientEvents> {
  readonly socket: net.Socket;
  extranonce1 = Buffer.alloc(0);
  extranonce2Size = 0;
  sessionId = '';
  difficulty = 1;
  job: Job | null = null;
  versionMask = 0;
  closed = false;
  readonly lines: string[] = [];
  #buf = '';
  #nextId = 1;
  readonly #waiting = new Map<unknown, { resolve: (r: StratumReply) => void; reject: (e: Error) => void }>();

  private constructor(socket: net.Socket) {
    super();
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (d: string) => this.#onData(d));
    socket.on('close', () => {
      this.closed = true;
      // a request whose reply can no longer come fails now, not at its timeout
      for (const w of this.#waiting.values()) w.reject(new Error('connection closed'));
      this.#waiting.clear();
      this.emit('close');
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, host = '127.0.0.1'): Promise<StratumClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => {
        s.off('error', reject);
        resolve(new StratumClient(s));
      });
      s.once('error', reject);
    });
  }

  /**
   * The same over TLS (a `stratum+ssl://` port). `options` go to tls.connect: `ca` to
   * trust a private CA, `rejectUnauthorized: false` for a self-signed pool. TLS 1.2+.
   */
  static connectTls(port: number, host = '127.0.0.1', options: tls.ConnectionOptions = {}): Promise<StratumClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ port, host, minVersion: 'TLSv1.2', ...options }, () => {
        s.off('error', reject);
        resolve(new StratumClient(s));
      });
      s.once('error', reject);
    });
  }

  #onData(d: string): void {
    this.#buf += d;
    let i;
    while ((i = this.#buf.indexOf('\n')) >= 0) {
      const line = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + 1);
      if (!line.trim()) continue;
      this.lines.push(line);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      this.emit('message', msg);
      if (msg.method === 'mining.notify') {
        const p = msg.params as unknown[];
        this.job = { params: p, jobId: p[0] as string, clean: p[8] as boolean, ntime: parseInt(p[7] as string, 16) };
        this.emit('notify', this.job);
      } else if (msg.method === 'mining.set_difficulty') {
        this.difficulty = Number((msg.params as unknown[])[0]);
        this.emit('difficulty', this.difficulty);
      } else if (msg.method === undefined && this.#waiting.has(msg.id)) {
        const w = this.#waiting.get(msg.id)!;
        this.#waiting.delete(msg.id);
        w.resolve(msg as unknown as StratumReply);
      }
    }
  }

  /** Send raw text (tests of malformed input). */
  write(text: string): void {
    this.socket.write(text);
  }

  /** Send a request and wait for its reply (ids are unique per client). */
  request(method: string, params: unknown, timeoutMs = 5000): Promise<StratumReply> {
    const id = this.#nextId++;
    return this.requestWithId(id, method, params, timeoutMs);
  }

  requestWithId(id: unknown, method: string, params: unknown, timeoutMs = 5000): Promise<StratumReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`no reply to ${method} (id ${String(id)}) within ${timeoutMs} ms`));
      }, timeoutMs);
      if (this.closed) {
        clearTimeout(timer);
        reject(new Error('connection closed'));
        return;
      }
      this.#waiting.set(id, {
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.socket.write(JSON.stringify({ id, method, params }) + '\n');
    });
  }

  async subscribe(agent = 'ckpool-ts-testminer/1.0', session?: string): Promise<StratumReply> {
    const r = await this.request('mining.subscribe', session ? [agent, session] : [agent]);
    if (Array.isArray(r.result)) {
      const [subs, en1, en2size] = r.result as [unknown[][], string, number];
      this.sessionId = String(subs?.[0]?.[1] ?? '');
      this.extranonce1 = Buffer.from(en1, 'hex');
      this.extranonce2Size = en2size;
    }
    return r;
  }

  authorize(worker: string, pass = 'x'): Promise<StratumReply> {
    return this.request('mining.authorize', [worker, pass]);
  }

  /** Wait for the next notify (or return the current job when `current` is set). */
  nextJob(timeoutMs = 5000, current = false): Promise<Job> {
    if (current && this.job) return Promise.resolve(this.job);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no mining.notify within ${timeoutMs} ms`)), timeoutMs);
      this.once('notify', (j) => {
        clearTimeout(timer);
        resolve(j);
      });
    });
  }

  /**
   * Grind the current job for a share at `diff` (default: the pool's difficulty).
   * Returns submit params, the share's hash/difficulty and whether it is a block.
   */
  grind(opts: { diff?: number; job?: Job; versionBits?: number; start?: number; maxTries?: number } = {}) {
    const job = opts.job ?? this.job;
    if (!job) throw new Error('no job yet');
    const diff = opts.diff ?? this.difficulty;
    const checker = ShareChecker.fromNotify(job.params, this.extranonce1.length, this.extranonce2Size, 0x1fffe000);
    const en2 = Buffer.alloc(this.extranonce2Size);
    const start = opts.start ?? Math.floor(Math.random() * 0xffffffff);
    const max = opts.maxTries ?? 50_000_000;
    for (let i = 0; i < max; i++) {
      en2.writeUInt32LE((start + i) >>> 0, 0);
      const nonce = (i * 2654435761) >>> 0;
      const r = checker.check({ extranonce1: this.extranonce1, extranonce2: en2, ntime: job.ntime, nonce, versionBits: opts.versionBits ?? 0, difficulty: diff });
      if (r.meetsShareTarget) {
        const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
        const params = [job.jobId, en2.toString('hex'), hex(job.ntime), hex(nonce)];
        if (opts.versionBits) params.push(hex(opts.versionBits));
        return { params, hash: r.hash, sdiff: r.difficulty, block: r.meetsNetworkTarget, en2: Buffer.from(en2), nonce };
      }
    }
    throw new Error(`no share at diff ${diff} in ${max} tries`);
  }

  submit(worker: string, params: unknown[], timeoutMs = 5000): Promise<StratumReply> {
    return this.request('mining.submit', [worker, ...params], timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}
