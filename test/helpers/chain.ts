/**
 * Mining real blocks through a pool on Bitcoin Core, with the independent test miner:
 * each share on regtest is also a block, so every submit is checked twice — by the
 * pool's reply and by Core's chain.
 */
import type { StratumClient } from '../../ts/miner/client.js';
import type { CoreNode } from './core.js';
import { grindIndependent, type IndieShare, type RollKind } from './indie-miner.js';

/** The stratum form of a display-order block hash (as mining.notify carries prevhash). */
export function stratumPrevhash(displayHash: string): string {
  const internal = Buffer.from(displayHash, 'hex').reverse();
  for (let i = 0; i < 32; i += 4) internal.subarray(i, i + 4).reverse();
  return internal.toString('hex');
}

/** Wait until the miner's current job builds on `tip` (display hash). */
export async function jobOnTip(c: StratumClient, tip: string, timeoutMs = 10_000): Promise<void> {
  const want = stratumPrevhash(tip);
  const end = Date.now() + timeoutMs;
  while ((c.job?.params[1] as string | undefined) !== want) {
    if (Date.now() > end) throw new Error(`no job on tip ${tip} within ${timeoutMs} ms (job prevhash ${String(c.job?.params[1])})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface MinedBlock {
  kind: RollKind;
  height: number;
  jobVersion: number;
  share: IndieShare;
  reply: unknown;
  /** Core's view of the block: header version and confirmations (-1: not in the best chain) */
  coreVersion: number;
  confirmations: number;
  nTx: number;
}

/**
 * One block through the pool: the miner grinds its current job on Core's tip, submits,
 * and the block must become Core's new tip. Returns what each side saw.
 */
export async function mineBlock(core: CoreNode, c: StratumClient, worker: string, kind: RollKind, diff: number, rollBits?: number): Promise<MinedBlock> {
  const tip = await core.rpc<string>('getbestblockhash');
  await jobOnTip(c, tip);
  const job = c.job!;
  const height = (await core.height()) + 1;
  const share = grindIndependent(c, job, { diff, kind, rollBits, mask: c.versionMask || 0x1fffe000 });
  const r = await c.submit(worker, share.params, 15_000);
  const end = Date.now() + 15_000;
  while ((await core.rpc<string>('getbestblockhash')) !== share.hash) {
    if (Date.now() > end) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  let coreVersion = -1;
  let confirmations = -1;
  let nTx = 0;
  try {
    const h = await core.rpc<{ version: number; confirmations: number; nTx: number }>('getblockheader', [share.hash]);
    coreVersion = h.version >>> 0;
    confirmations = h.confirmations;
    nTx = h.nTx;
  } catch {
    // unknown to Core: left at -1
  }
  return { kind, height, jobVersion: parseInt(job.params[5] as string, 16) >>> 0, share, reply: r, coreVersion, confirmations, nTx };
}
