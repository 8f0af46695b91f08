/**
 * Bitcoin Core (bitcoind) regtest nodes for the end-to-end tests: the node our users
 * run. Each node gets its own datadir, RPC/P2P/ZMQ ports and cookie; every node a test
 * file started is killed when the file ends (`test.after.always(stopAllCores)`), and a
 * process 'exit' hook kills what is left.
 *
 * Where bitcoind comes from: `BITCOIND` (a path), else the folder
 * ../shared/tools/bitcoin-core/install.sh unpacks to (~/.cache/ckpool-ts/bitcoin-core),
 * else `bitcoind` on PATH. `.ci/run` installs it and sets BITCOIND, and there a missing
 * bitcoind fails the run (`coreTests()`); elsewhere the Core suites say they are not run.
 *
 * The helper talks JSON-RPC itself (node's fetch), not through ts/node/rpc.ts: the pool's
 * own client is what is under test.
 */
import test from 'ava';
import { findBitcoind } from './core-node.js';

export * from './core-node.js';

/**
 * The bitcoind to run, or null after saying why the file's Core tests do not run. In CI
 * (CI=true) a missing bitcoind is a failing test, never a silent pass.
 */
export function coreTests(file: string): string | null {
  const bin = findBitcoind();
  if (bin) return bin;
  const why = process.env.BITCOIND
    ? `BITCOIND=${process.env.BITCOIND} does not exist`
    : 'no bitcoind (set BITCOIND, run ../shared/tools/bitcoin-core/install.sh, or put bitcoind on PATH)';
  if (process.env.CI) {
    test(`${file}: Bitcoin Core is required in CI`, (t) => t.fail(why));
  } else {
    console.log(`# ${file}: Bitcoin Core end-to-end tests not run: ${why}`);
    test.todo(`${file}: run with Bitcoin Core (${why})`);
  }
  return null;
}

