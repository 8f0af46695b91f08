/**
 * The demo CPU miner's hashing thread (started by ts/miner/cpu.ts): one worker thread
 * for every worker the miner runs, so the pool's event loop (the demo runs the miner in
 * the pool's own process) is never blocked by hashing.
 *
 * It takes turns over the workers ("slots"): a chunk of nonces of one slot's job per
 * turn, through the Rust core's scanNonces (midstate once, two compressions a nonce),
 * then the next slot. A hit goes to the main thread, which submits it. Between chunks
 * the thread yields, so new jobs, difficulties and `stop` are read at once; with a
 * hashrate limit it also sleeps, so the demo does not take a whole core.
 */
import { randomFillSync } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { scanNonces, targetFromDifficulty } from '../native/core.js';
import { ShareChecker } from '../native/share.js';
import type { CpuFromThread, CpuToThread, CpuWork } from './cpu-protocol.js';

const port = parentPort;
if (!port) throw new Error('ts/miner/cpu-thread.ts runs only as a worker thread (ts/miner/cpu.ts starts it)');

/** Nonces per native call: a few ms at SHA-NI speed, so messages are read often. */
const CHUNK = 1 << 16;

interface Slot {
  work: CpuWork;
  header: Buffer;
  target: Buffer;
  en2: Buffer;
  /** next nonce to try */
  nonce: number;
}

const slots = new Map<number, Slot>();
let running = true;
/** H/s over all slots; 0 = as fast as the thread goes */
const maxHashrate = (workerData as { maxHashrate?: number } | null)?.maxHashrate ?? 0;
let hashes = 0;
const started = Date.now();
let turn = 0;

function post(m: CpuFromThread): void {
  port!.postMessage(m);
}

/** The 80-byte header of a slot's job with its current extranonce2 (nonce bytes are scanned). */
function buildHeader(w: CpuWork, en2: Buffer): Buffer {
  const checker = ShareChecker.fromNotify(w.params, w.extranonce1.length / 2, w.extranonce2Size, 0);
  return checker.header(Buffer.from(w.extranonce1, 'hex'), en2, parseInt(String(w.params[7]), 16), 0, 0);
}

function setWork(slot: number, w: CpuWork): void {
  const old = slots.get(slot);
  // a new job restarts the nonce space; a new difficulty on the same job only moves the target
  if (old && old.work.jobId === w.jobId && old.work.extranonce1 === w.extranonce1) {
    old.work = w;
    old.target = targetFromDifficulty(w.difficulty);
    return;
  }
  try {
    if (!Number.isInteger(w.extranonce2Size) || w.extranonce2Size < 1 || w.extranonce2Size > 16) {
      throw new Error(`extranonce2 size ${w.extranonce2Size} (1..16 supported)`);
    }
    // each slot starts its extranonce2 at a random place: a restarted miner does not redo its old work
    const en2 = randomFillSync(Buffer.alloc(w.extranonce2Size));
    slots.set(slot, { work: w, header: buildHeader(w, en2), target: targetFromDifficulty(w.difficulty), en2, nonce: 0 });
  } catch (e) {
    slots.delete(slot);
    post({ t: 'error', slot, message: `job ${w.jobId} cannot be mined: ${(e as Error).message}` });
  }
}

function step(): void {
  if (slots.size === 0) return;
  const keys = [...slots.keys()];
  const slot = keys[turn++ % keys.length]!;
  const s = slots.get(slot)!;
  const count = Math.min(CHUNK, 0x1_0000_0000 - s.nonce);
  const hit = scanNonces(s.header, s.nonce, count, s.target);
  const done = hit >= 0 ? hit - s.nonce + 1 : count;
  hashes += done;
  s.nonce += done;
  if (hit >= 0) {
    post({
      t: 'share', slot, jobId: s.work.jobId, extranonce2: s.en2.toString('hex'),
      ntime: String(s.work.params[7]), nonce: (hit >>> 0).toString(16).padStart(8, '0'),
    });
  }
  if (s.nonce >= 0x1_0000_0000) {
    // nonce space done: next extranonce2, new coinbase, new header
    for (let i = 0; i < s.en2.length; i++) {
      s.en2[i] = (s.en2[i]! + 1) & 0xff;
      if (s.en2[i] !== 0) break; // no carry
    }
    s.header = buildHeader(s.work, s.en2);
    s.nonce = 0;
  }
}

function loop(): void {
  if (!running) return;
  step();
  let wait = 0;
  if (maxHashrate > 0) {
    // ahead of the allowed rate: sleep until the hashes done so far are due
    const due = (hashes / maxHashrate) * 1000;
    wait = Math.max(0, due - (Date.now() - started));
  }
  if (slots.size === 0) wait = 50;
  if (wait > 0) setTimeout(loop, Math.min(wait, 1000));
  else setImmediate(loop);
}

const stats = setInterval(() => post({ t: 'hashes', total: hashes }), 1000);

port.on('message', (m: CpuToThread) => {
  switch (m.t) {
    case 'work': return setWork(m.slot, m.work);
    case 'idle':
      slots.delete(m.slot);
      return;
    case 'stop':
      running = false;
      clearInterval(stats);
      post({ t: 'hashes', total: hashes });
      port.close();
      return;
  }
});

loop();
