/**
 * The block ledger: every block this pool solved, with its finder, reward and the nodes'
 * verdict, from the generator's events and the files it writes (logdir/blocks/
 * <height>-<hash>.json before submitting, <…>.result.json after).
 *
 * - At start the existing files are read (a block without a result file was solved by a
 *   process that died mid-submission: 'pending' until the chain check below settles it).
 * - 'found' (written, being submitted) → a 'pending' record and block_found on the bus;
 *   'block' (submission finished) → its verdict and block_verdict.
 * - On every new tip the blocks younger than `confirmations` are checked against the
 *   node's best chain: getblockhash(height) no longer our hash → 'orphaned' (and back to
 *   'accepted' should a reorg bring it back). A verdict change is written to the result
 *   file, so a restart keeps it.
 *
 * Main thread only; the checks are one RPC per young block per new tip, never per share.
 */
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BlockRecord, BlockVerdict, PoolEvents } from '../events.js';
import { ckError } from '../errors.js';
import { NullLogger, type Logger } from '../log/logger.js';
import type { BlockFound, BlockMeta, BlockSubmission, Generator, NodeVerdict } from './generator.js';
import { difficultyFromHash, fromDisplayHex } from '../native/core.js';

/** Blocks this deep are final: no more orphan checks. */
export const DEFAULT_CONFIRMATIONS = 100;
/** A block with no recorded verdict this old is settled by the chain check. */
const PENDING_GRACE_MS = 15 * 60_000;

/** The display-order hash's difficulty (diff-1 target / hash): the solving share's difficulty. */
export function hashDifficulty(hash: string): number {
  return difficultyFromHash(fromDisplayHex('hash', hash));
}

function readVarint(b: Buffer, o: number): [number, number] {
  const first = b[o]!;
  if (first < 0xfd) return [first, o + 1];
  if (first === 0xfd) return [b.readUInt16LE(o + 1), o + 3];
  if (first === 0xfe) return [b.readUInt32LE(o + 1), o + 5];
  return [Number(b.readBigUInt64LE(o + 1)), o + 9];
}

/**
 * Sum of the coinbase outputs of a block given as hex (files written before the ledger
 * recorded `coinbasevalue`). NaN if the hex is not a block.
 */
export function coinbaseValue(blockHex: string): number {
  try {
    // header 80, tx count, then the coinbase: version, [marker flag], inputs, outputs
    const b = Buffer.from(blockHex.slice(0, 2 * 4096), 'hex');
    let o = 80;
    [, o] = readVarint(b, o);
    o += 4;
    if (b[o] === 0 && b[o + 1] === 1) o += 2;
    let n: number;
    [n, o] = readVarint(b, o);
    for (let i = 0; i < n; i++) {
      o += 36;
      let len: number;
      [len, o] = readVarint(b, o);
      o += len + 4;
    }
    [n, o] = readVarint(b, o);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += Number(b.readBigUInt64LE(o));
      o += 8;
      let len: number;
      [len, o] = readVarint(b, o);
      o += len;
    }
    return sum;
  } catch {
    return NaN;
  }
}

interface Entry {
  record: BlockRecord;
  /** ms since the epoch */
  foundAt: number;
  /** the .json file (null: it could not be written) */
  file: string | null;
  /** a submission of this block is under way in this process */
  submitting: boolean;
  /** the last write of a chain-check verdict (writes of one entry go one after another) */
  persisted?: Promise<void>;
}

export interface LedgerOptions {
  logdir: string;
  events: PoolEvents;
  logger?: Logger;
  confirmations?: number;
}

/** The chain as the ledger asks it: getblockhash and the tip height. */
export interface ChainView {
  blockHash(height: number): Promise<string>;
  tipHeight(): Promise<number>;
}

export function generatorChain(g: Generator): ChainView {
  return {
    blockHash: (height) => g.servers.call<string>('getblockhash', [height]),
    tipHeight: () => g.servers.call<number>('getblockcount', []),
  };
}

function who(meta: BlockMeta): { finder: string; worker: string } {
  const worker = typeof meta.workername === 'string' ? meta.workername : '';
  const user = typeof meta.username === 'string' && meta.username !== '' ? meta.username : worker.split('.')[0] ?? '';
  return { finder: user, worker };
}

function verdictOf(r: { accepted: boolean; inconclusive?: boolean; verdicts: NodeVerdict[] }): { verdict: BlockVerdict; reason?: string } {
  if (r.accepted) return { verdict: 'accepted' };
  const reasons = r.verdicts.filter((v) => !v.accepted).map((v) => `${v.server}: ${v.reason ?? 'rejected'}`).join('; ');
  if (r.inconclusive) return { verdict: 'inconclusive', reason: reasons || 'valid, not on the best chain' };
  return { verdict: 'rejected', reason: reasons || 'no node accepted it' };
}

export class BlockLedger {
  readonly #o: LedgerOptions;
  readonly #log: Logger;
  readonly #byHash = new Map<string, Entry>();
  /** newest first */
  #sorted: Entry[] | null = [];
  #chain: ChainView | null = null;
  #checking: Promise<void> | null = null;
  #recheck = false;
  #detach: (() => void) | null = null;
  /** verdict writes under way (close waits for them, so a restart reads them) */
  readonly #writes = new Set<Promise<void>>();

  constructor(opts: LedgerOptions) {
    this.#o = opts;
    this.#log = opts.logger ?? new NullLogger();
  }

  get dir(): string {
    return path.join(this.#o.logdir, 'blocks');
  }

  /** Read logdir/blocks/. Unreadable files are logged and skipped. */
  async load(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      this.#log.err(ckError('CKP_ERR_LEDGER_FILE', this.dir, (e as Error).message).message);
      return 0;
    }
    let n = 0;
    for (const name of names) {
      const named = /^(\d+)-([0-9a-f]{64})\.json$/.exec(name);
      if (!named) continue;
      const file = path.join(this.dir, name);
      try {
        const rec = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
        // the name says which block it is; the content adds the rest (fields may be missing in old files)
        const hash = typeof rec.hash === 'string' && /^[0-9a-f]{64}$/.test(rec.hash) ? rec.hash : named[2]!;
        const height = Number.isSafeInteger(rec.height) ? Number(rec.height) : Number(named[1]);
        if (this.#byHash.has(hash)) continue;
        const result = await readFile(`${file.slice(0, -5)}.result.json`, 'utf8')
          .then((t) => JSON.parse(t) as { accepted: boolean; inconclusive?: boolean; verdicts?: NodeVerdict[]; orphaned?: boolean; reason?: string })
          .catch(() => null);
        const foundAt = Date.parse(String(rec.found)) || 0;
        const reward = typeof rec.coinbasevalue === 'number' ? rec.coinbasevalue : coinbaseValue(String(rec.hex ?? ''));
        let v: { verdict: BlockVerdict; reason?: string } = { verdict: 'pending' };
        if (result) {
          const verdicts = result.verdicts ?? [];
          const inconclusive = result.inconclusive ?? (!result.accepted && verdicts.some((x) => x.inconclusive));
          v = result.orphaned ? { verdict: 'orphaned', reason: result.reason } : verdictOf({ accepted: result.accepted, inconclusive, verdicts });
          // a verdict written by an earlier orphan check (inconclusive/accepted settled later)
          if (!result.orphaned && result.reason && v.verdict !== 'rejected') v = { ...v, reason: result.reason };
        }
        this.#put({
          record: { height, hash, ...who(rec as BlockMeta), reward: Number.isFinite(reward) ? reward : 0,
            time: Math.floor(foundAt / 1000), diff: hashDifficulty(hash), ...v },
          foundAt, file, submitting: false,
        });
        n++;
      } catch (e) {
        this.#log.warning(ckError('CKP_ERR_LEDGER_FILE', file, (e as Error).message).message);
      }
    }
    return n;
  }

  /** Follow a generator: its solves, their verdicts and new tips (for the orphan check). */
  attach(g: Generator, chain: ChainView = generatorChain(g)): void {
    this.#chain = chain;
    const onFound = (f: BlockFound): void => this.found(f);
    const onBlock = (r: BlockSubmission): void => this.submitted(r);
    const onWork = (_wb: unknown, clean: boolean): void => {
      if (clean) void this.checkChain();
    };
    g.on('found', onFound);
    g.on('block', onBlock);
    g.on('workbase', onWork);
    this.#detach = () => {
      g.off('found', onFound);
      g.off('block', onBlock);
      g.off('workbase', onWork);
    };
  }

  /** A solve written to disk and being submitted. */
  found(f: BlockFound): void {
    const known = this.#byHash.get(f.hash);
    if (known) {
      // the same block submitted again (a miner resent the share): one block, one record;
      // the new submission's verdict replaces the old one when it comes
      known.submitting = true;
      return;
    }
    const e: Entry = {
      record: { height: f.height, hash: f.hash, ...who(f.meta), reward: f.reward, time: Math.floor(f.time / 1000), diff: hashDifficulty(f.hash), verdict: 'pending' },
      foundAt: f.time, file: f.file, submitting: true,
    };
    this.#put(e);
    this.#o.events.emitSafe('block_found', e.record);
  }

  /** A submission finished. */
  submitted(r: BlockSubmission): void {
    const e = this.#byHash.get(r.hash);
    if (!e) return; // not one the generator announced (cannot happen; nothing to record)
    e.submitting = false;
    this.#setVerdict(e, verdictOf(r), false);
  }

  /** Newest first. */
  list(offset: number, limit: number): { total: number; items: BlockRecord[] } {
    this.#sorted ??= [...this.#byHash.values()].sort((a, b) => b.foundAt - a.foundAt || b.record.height - a.record.height);
    return { total: this.#sorted.length, items: this.#sorted.slice(offset, offset + limit).map((e) => e.record) };
  }

  get(hash: string): BlockRecord | undefined {
    return this.#byHash.get(hash)?.record;
  }

  /**
   * Check the young blocks against the best chain (orphaned / back on it / a pending
   * one settled). One check at a time; a call during a check runs another after it.
   */
  checkChain(): Promise<void> {
    if (this.#checking) {
      this.#recheck = true;
      return this.#checking;
    }
    this.#checking = this.#check().finally(() => {
      this.#checking = null;
      if (this.#recheck) {
        this.#recheck = false;
        void this.checkChain();
      }
    });
    return this.#checking;
  }

  async #check(): Promise<void> {
    const chain = this.#chain;
    if (!chain || this.#byHash.size === 0) return;
    const depth = this.#o.confirmations ?? DEFAULT_CONFIRMATIONS;
    let tip: number;
    try {
      tip = await chain.tipHeight();
    } catch (e) {
      this.#log.info(`Block ledger: chain check skipped: ${(e as Error).message}`);
      return;
    }
    for (const e of [...this.#byHash.values()]) {
      const r = e.record;
      if (e.submitting || tip - r.height >= depth || r.height > tip) continue;
      if (r.verdict === 'rejected') continue;
      if (r.verdict === 'pending' && Date.now() - e.foundAt < PENDING_GRACE_MS) continue;
      let onChain: string;
      try {
        onChain = await chain.blockHash(r.height);
      } catch (err) {
        this.#log.info(`Block ledger: getblockhash(${r.height}) failed: ${(err as Error).message}`);
        return;
      }
      if (onChain === r.hash) {
        if (r.verdict !== 'accepted') this.#setVerdict(e, { verdict: 'accepted', reason: r.verdict === 'orphaned' ? 'back on the best chain' : undefined }, true);
      } else if (r.verdict === 'accepted') {
        this.#log.warning(`Block ${r.height} ${r.hash} ORPHANED: the best chain has ${onChain} at that height`);
        this.#setVerdict(e, { verdict: 'orphaned', reason: `the best chain has ${onChain} at height ${r.height}` }, true);
      } else if (r.verdict === 'pending') {
        this.#setVerdict(e, { verdict: 'inconclusive', reason: `no verdict was recorded and the best chain has ${onChain} at height ${r.height}` }, true);
      }
    }
  }

  /** Stop following the generator; resolves once the verdict writes under way are on disk. */
  async close(): Promise<void> {
    this.#detach?.();
    this.#detach = null;
    this.#chain = null;
    await Promise.all([...this.#writes]);
  }

  #put(e: Entry): void {
    this.#byHash.set(e.record.hash, e);
    this.#sorted = null;
  }

  #setVerdict(e: Entry, v: { verdict: BlockVerdict; reason?: string }, persist: boolean): void {
    const { reason: _old, ...rest } = e.record;
    e.record = { ...rest, verdict: v.verdict, ...(v.reason !== undefined ? { reason: v.reason } : {}) };
    this.#sorted = null;
    // one write after the other: a verdict that flips back quickly must not be overtaken
    if (persist && e.file) {
      const rec = e.record;
      const p = (e.persisted ?? Promise.resolve()).then(() => this.#persist(e, rec));
      e.persisted = p;
      this.#writes.add(p);
      void p.finally(() => this.#writes.delete(p));
    }
    this.#o.events.emitSafe('block_verdict', e.record);
  }

  /** Merge the chain check's verdict into the result file (atomically). */
  async #persist(e: Entry, rec: BlockRecord): Promise<void> {
    const file = `${e.file!.slice(0, -5)}.result.json`;
    try {
      const old = await readFile(file, 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>).catch(() => ({ hash: rec.hash, height: rec.height, verdicts: [] }));
      const next = { ...old, accepted: rec.verdict === 'accepted', orphaned: rec.verdict === 'orphaned',
        inconclusive: rec.verdict === 'inconclusive', reason: rec.reason, checkedAt: new Date().toISOString() };
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(next) + '\n', { mode: 0o640 });
      await rename(tmp, file);
    } catch (err) {
      this.#log.err(`Block ledger: cannot record the verdict of ${rec.hash} in ${file}: ${(err as Error).message}`);
    }
  }
}
