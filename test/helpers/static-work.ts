/**
 * A work source serving fixed workbases — for replaying recorded stratum jobs (the
 * shared vectors come from other pools' sessions; no node here can produce those jobs).
 * Blocks "submitted" are recorded, not sent anywhere.
 */
import { EventEmitter } from 'node:events';
import type { BlockSubmission } from '../../ts/work/generator.js';
import type { WorkSource } from '../../ts/work/source.js';
import type { Workbase } from '../../ts/work/workbase.js';

export class StaticWorkSource extends EventEmitter<{ workbase: [Workbase, boolean] }> implements WorkSource {
  current: Workbase | null = null;
  blockChangeSeq = 0;
  readonly network = null;
  readonly blocks: { wb: Workbase; header: Buffer; coinbase: Buffer }[] = [];
  readonly #kept = new Map<string, Workbase>();

  push(wb: Workbase, clean = true): void {
    this.#kept.set(wb.jobId, wb);
    this.current = wb;
    if (clean) this.blockChangeSeq = wb.seq;
    this.emit('workbase', wb, clean);
  }
  workbase(jobId: string): Workbase | undefined {
    return this.#kept.get(jobId);
  }
  async submitBlock(wb: Workbase, header: Buffer, coinbase: Buffer): Promise<BlockSubmission> {
    this.blocks.push({ wb, header, coinbase });
    return { hash: '', height: wb.height, file: null, verdicts: [], accepted: false, confirmed: false };
  }
  scriptForAddress(): Buffer {
    throw new Error('no solo mode in a replay');
  }
}
