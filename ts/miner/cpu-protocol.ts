/** Messages between the demo CPU miner (ts/miner/cpu.ts) and its hashing thread (cpu-thread.ts). */

/** One worker's job as the hashing thread needs it. */
export interface CpuWork {
  jobId: string;
  /** the mining.notify params as received */
  params: unknown[];
  extranonce1: string;
  extranonce2Size: number;
  difficulty: number;
}

export type CpuToThread =
  | { t: 'work'; slot: number; work: CpuWork }
  /** the slot's connection is down: stop hashing for it */
  | { t: 'idle'; slot: number }
  | { t: 'stop' };

export type CpuFromThread =
  | { t: 'share'; slot: number; jobId: string; extranonce2: string; ntime: string; nonce: string }
  /** hashes done since the thread started (every second) */
  | { t: 'hashes'; total: number }
  | { t: 'error'; slot: number; message: string };
