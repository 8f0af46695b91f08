/**
 * A worker thread's WorkSource: workbases arrive from the main thread's generator as
 * snapshots (no transaction data), and what needs the whole template — a solved block,
 * get_transactions — goes back to the main thread.
 */
import { EventEmitter } from 'node:events';
import { decodeAddress, type NetworkName } from '../bitcoin/address.js';
import { ckError } from '../errors.js';
import type { BlockMeta, BlockSubmission } from '../work/generator.js';
import type { WorkSource } from '../work/source.js';
import { Workbase } from '../work/workbase.js';
import type { FromWorker, WorkbaseNews } from './thread-protocol.js';

export class RemoteWorkSource extends EventEmitter<{ workbase: [wb: Workbase, clean: boolean] }> implements WorkSource {
  current: Workbase | null = null;
  blockChangeSeq = 0;
  readonly #workbases = new Map<string, Workbase>();
  readonly #pending = new Map<number, (r: never) => void>();
  #nextId = 1;

  constructor(readonly network: NetworkName | null, private readonly post: (m: FromWorker) => void) {
    super();
  }

  /** A workbase from the main thread. */
  update(news: WorkbaseNews): void {
    const wb = new Workbase({ snapshot: news.snapshot });
    this.#workbases.set(wb.jobId, wb);
    const keep = new Set(news.keep);
    for (const id of this.#workbases.keys()) if (!keep.has(id) && id !== wb.jobId) this.#workbases.delete(id);
    this.current = wb;
    this.blockChangeSeq = news.blockChangeSeq;
    this.emit('workbase', wb, news.clean);
  }

  workbase(jobId: string): Workbase | undefined {
    return this.#workbases.get(jobId);
  }

  scriptForAddress(address: string): Buffer {
    if (!this.network) throw ckError('CKP_ERR_WORK_NETWORK', 'unknown (generator not started)');
    return decodeAddress(address, this.network).script;
  }

  #ask<T>(build: (id: number) => FromWorker): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve) => {
      this.#pending.set(id, resolve as (r: never) => void);
      this.post(build(id));
    });
  }

  /** The main thread's answer to a block or transactions request. */
  settle(id: number, result: unknown): void {
    const resolve = this.#pending.get(id);
    this.#pending.delete(id);
    resolve?.(result as never);
  }

  /** Requests still waiting (the thread is stopping): fail them rather than hang. */
  failAll(reason: string): void {
    for (const [id, resolve] of this.#pending) {
      this.#pending.delete(id);
      resolve(reason as never);
    }
  }

  /**
   * Solved block: the main thread holds the transactions, writes the block to disk and
   * submits it (Generator.submitBlock). The header and coinbase go there at once.
   */
  submitBlock(wb: Workbase, header: Buffer, coinbaseLegacy: Buffer, meta: BlockMeta = {}): Promise<BlockSubmission> {
    return this.#ask<BlockSubmission | string>((id) => ({ t: 'block', id, jobId: wb.jobId, header, coinbase: coinbaseLegacy, meta }))
      .then((r) => (typeof r === 'string'
        // the thread stopped first; the main thread logs what happened to the block
        ? { accepted: false, confirmed: false, hash: '', height: wb.height, verdicts: [], file: null }
        : r));
  }

  transactionsOf(wb: Workbase, hashesOnly: boolean, maxBytes: number): Promise<string[] | string> {
    return this.#ask((id) => ({ t: 'txns', id, jobId: wb.jobId, hashesOnly, maxBytes }));
  }
}
