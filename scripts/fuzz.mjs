#!/usr/bin/env node
// Coverage-guided fuzzing with jazzer.js (libFuzzer) of the targets in test/fuzz/.
//   npm run fuzz -- <target> [seconds]   one target; new inputs go to .fuzz/corpus/<target>/,
//                                         the committed seeds in test/fuzz/corpus/<target>/ are read
//   npm run fuzz -- all [seconds]         every target, one after the other
//   npm run fuzz:ci                       every target for 20 s (CI), exit 1 on any finding
// seconds = 0 runs until stopped (Ctrl-C). A finding (an exception other than a coded
// CkpoolError, a broken invariant, a timeout) is written as .fuzz/crash-<hash> (or
// timeout-…) and the run exits non-zero; replay one with
//   npm run fuzz -- <target> 0 .fuzz/crash-<hash>
// and turn it into a test in test/fuzz-properties.test.ts.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureJazzerLoads } from './jazzer-glibc.mjs';

const root = new URL('..', import.meta.url).pathname;
const TARGETS = readdirSync(join(root, 'test/fuzz')).filter((f) => f.endsWith('.ts') && f !== 'invariant.ts').map((f) => f.slice(0, -3)).sort();
// targets that finish every input synchronously run in jazzer's faster --sync mode
const SYNC = new Set(['config', 'template']);

const args = process.argv.slice(2);
const ci = args[0] === '--ci';
const which = ci ? 'all' : args[0];
const seconds = ci ? 20 : Number(args[1] ?? 60);
const replay = ci ? undefined : args[2];
if (!which || (which !== 'all' && !TARGETS.includes(which)) || !Number.isFinite(seconds) || seconds < 0) {
  console.error(`usage: npm run fuzz -- <${TARGETS.join('|')}|all> [seconds, 0 = forever] [input to replay]`);
  process.exit(2);
}
ensureJazzerLoads();
const cli = join(root, 'node_modules/@jazzer.js/core/dist/cli.js');
let failed = 0;
for (const target of which === 'all' ? TARGETS : [which]) {
  const work = join(root, '.fuzz', 'corpus', target);
  mkdirSync(work, { recursive: true });
  const fuzzerArgs = replay
    ? [replay]
    : [`-max_total_time=${seconds}`, `-artifact_prefix=${join(root, '.fuzz')}/`, '-max_len=8192', '-timeout=10', '-rss_limit_mb=2048', '-print_final_stats=1'];
  const argv = [
    '--import=tsx', cli, 'test/fuzz/entry.mjs',
    ...(replay ? [] : [work, join(root, 'test/fuzz/corpus', target)]),
    // jazzer's bug detectors flag the rpc target's loopback HTTP server as SSRF and the
    // config paths as path traversal: what the targets check is their own invariants
    '-i', `${root}ts/`, '--disable_bug_detectors=.*', ...(SYNC.has(target) ? ['--sync'] : []), '--', ...fuzzerArgs,
  ];
  console.log(`# fuzz ${target}${replay ? ` (replay ${replay})` : ` for ${seconds || '∞'} s`}: node ${argv.join(' ')}`);
  // A target that keeps live handles (the upstream target's proxy: sockets, timers) does
  // not let node exit after libFuzzer's final stats. A finding ends the run early with a
  // non-zero status (a hanging input is one: -timeout), so a run still going well past its
  // time has finished fuzzing: it is stopped and counts as done.
  const grace = !replay && seconds > 0 ? (seconds + 45) * 1000 : 0;
  const r = await new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, CKP_FUZZ_TARGET: target } });
    let lingered = false;
    const timer = grace ? setTimeout(() => { lingered = true; child.kill('SIGKILL'); }, grace) : null;
    child.on('exit', (status, signal) => {
      if (timer) clearTimeout(timer);
      resolve(lingered ? { status: 0, signal: null } : { status, signal });
    });
  });
  if (r.status !== 0) {
    failed++;
    console.log(`# fuzz ${target}: FAILED (exit ${r.status ?? r.signal})`);
  } else {
    console.log(`# fuzz ${target}: ok`);
  }
}
process.exit(failed ? 1 : 0);
