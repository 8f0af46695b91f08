// Vardiff (ckpool stratifier.c:add_submit, fractional): convergence to ~0.3 shares/s,
// clamps, the hysteresis band, and per-job credited difficulty.
import test from 'ava';
import { applyDiff, clampDiff, creditedDiff, newVardiff, vardiffShare, type VardiffState } from '../ts/pool/vardiff.js';

const lim = { mindiff: 1e-6, maxdiff: 0, networkDiff: 1e12 };

/** A miner doing `dsps` diff-1 shares per second; returns the final difficulty. */
function simulate(st: VardiffState, dsps: number, seconds: number, l = lim): number {
  let now = 1_000_000;
  let seq = 1;
  let acc = 0;
  const end = now + seconds * 1000;
  while (now < end) {
    // expected share interval at the current difficulty, deterministic
    const interval = (st.diff / dsps) * 1000;
    acc += 100;
    now += 100;
    while (acc >= interval) {
      acc -= interval;
      const change = vardiffShare(st, creditedDiff(st, seq), now, l);
      if (change !== null) {
        applyDiff(st, change, now, seq + 1, seq);
        seq++; // a new job carries the new difficulty
      }
    }
  }
  return st.diff;
}

test('a 3-dsps miner starting at diff 1 converges near 3.33 × dsps (about 0.3 shares/s)', (t) => {
  const st = newVardiff(1, 1_000_000);
  const d = simulate(st, 3, 1800);
  t.true(d > 3 * 3.33 * 0.7 && d < 3 * 3.33 * 1.3, `diff ${d}`);
});

test('a CPU miner (0.001 dsps, ~4 MH/s) gets a fractional difficulty', (t) => {
  const st = newVardiff(1, 1_000_000);
  const d = simulate(st, 0.001, 6 * 3600);
  t.true(d < 0.01 && d > 0.0015, `diff ${d}`);
});

test('clamps: pool mindiff, the miner\'s suggestion, maxdiff, network difficulty above mindiff only', (t) => {
  t.is(clampDiff(1e-9, { suggestDiff: 0 }, lim), 1e-6);
  t.is(clampDiff(0.5, { suggestDiff: 2 }, lim), 2);
  t.is(clampDiff(500, { suggestDiff: 0 }, { ...lim, maxdiff: 100 }), 100);
  t.is(clampDiff(500, { suggestDiff: 0 }, { ...lim, networkDiff: 50 }), 50);
  t.is(clampDiff(500, { suggestDiff: 0 }, { ...lim, networkDiff: 4.6e-10 }), 500, 'regtest network diff is not a cap');
  const st = newVardiff(1, 1_000_000);
  t.is(simulate(st, 1000, 1200, { ...lim, maxdiff: 64 }), 64);
});

test('no change inside the hysteresis band, and none before 72 shares or 240 s', (t) => {
  const st = newVardiff(10, 1_000_000);
  // 0.25 shares/s at diff 10 = 2.5 dsps: drr = 0.25, inside (0.15, 0.4)
  t.is(simulate(st, 2.5, 1800), 10);
  const st2 = newVardiff(1, 1_000_000);
  let changed = false;
  for (let i = 1; i <= 71; i++) if (vardiffShare(st2, 1, 1_000_000 + i * 1000, lim) !== null) changed = true;
  t.false(changed, 'fewer than 72 shares within 240 s: no decision yet');
});

test('a difficulty change applies from the next job; older jobs keep theirs', (t) => {
  const st = newVardiff(1, 0);
  applyDiff(st, 4, 10, 6, 5); // jobs ≥ 6 carry 4; job 5 was sent at 1
  t.is(creditedDiff(st, 5), 1);
  t.is(creditedDiff(st, 6), 4);
  applyDiff(st, 8, 20, 6, 5); // a second change before any new job: job 5 still carries 1
  t.is(creditedDiff(st, 5), 1);
  t.is(creditedDiff(st, 7), 8);
  applyDiff(st, 2, 30, 9, 8); // job 8 was sent at 8
  t.is(creditedDiff(st, 8), 8);
  t.is(creditedDiff(st, 9), 2);
});

test('a share credited at an old difficulty resets the count instead of deciding', (t) => {
  const st = newVardiff(4, 0);
  st.ssdc = 100;
  t.is(vardiffShare(st, 1, 300_000, lim), null);
  t.is(st.ssdc, 0);
});
