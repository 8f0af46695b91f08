/**
 * ckpool-ts library entry point: the building blocks the ckpool binaries use,
 * exported for other programs.
 */
export * from './native/core.js';
export {
  ShareChecker,
  ShareBatch,
  checkShare,
  FLAG_MEETS_SHARE,
  FLAG_MEETS_NETWORK,
  FLAG_VERSION_OUTSIDE_MASK,
  type JobSpec,
  type ShareInput,
  type ShareResult,
  type FullShare,
} from './native/share.js';
export { addressToScript, decodeAddress, addressNetwork, NETWORKS, type NetworkName, type AddressType, type DecodedAddress } from './bitcoin/address.js';
export { CkpoolError, ckError, isCkpoolError, catalogue, type ErrorCode } from './errors.js';
export { LogLevel, type Logger, ConsoleLogger, NullLogger, MemoryLogger } from './log/logger.js';
