/** The bitcoind side of the pool: RPC client, failover set, block detection, and a bcoin regtest node. */
export * from './rpc.js';
export * from './servers.js';
export * from './blockwatch.js';
export { startBcoin, BcoinNode, type BcoinOptions, type WalletBalance } from './bcoin.js';
export { freePort, freePorts } from './ports.js';
