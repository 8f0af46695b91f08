/**
 * bcoin regtest nodes for tests: ts/node/bcoin.ts plus bookkeeping so every
 * node a test file started is stopped when the file ends (register
 * `test.after.always(stopAllBcoins)`). The module's own process 'exit' hook
 * and IPC watch are the second line of defence against orphans.
 */
import { startBcoin, type BcoinNode, type BcoinOptions } from '../../ts/node/bcoin.js';

export * from '../../ts/node/bcoin.js';

/** A valid bcoin regtest address nobody owns (bech32 `rb`), for generatetoaddress. */
export const REGTEST_ADDRESS = 'rb1qw508d6qejxtdg4y5r3zarvary0c5xw7k38f4sn';

const started: BcoinNode[] = [];

export async function startTestBcoin(opts: BcoinOptions = {}): Promise<BcoinNode> {
  const node = await startBcoin(opts);
  started.push(node);
  return node;
}

/** Stop (SIGKILL: nothing to save in an in-memory test chain) every node this file started. */
export async function stopAllBcoins(): Promise<void> {
  await Promise.all(started.splice(0).map((n) => n.kill()));
}
