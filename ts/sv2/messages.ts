/**
 * The Stratum V2 messages ckpool-ts exchanges, in the JSON shape the native binding
 * decodes them to and encodes them from (crates/ckpool-sv2/src/msg.rs). Byte fields
 * are hex of the wire bytes: U256 targets are little-endian numbers, prev_hash and
 * merkle roots are in header byte order, merklePath is the concatenated 32-byte hashes.
 */

/** SetupConnection.protocol: the Mining Protocol (the only one served here). */
export const PROTOCOL_MINING = 0;
/** The SV2 protocol version this server speaks (the spec's only version). */
export const SV2_VERSION = 2;

/** SetupConnection.flags of the Mining Protocol (spec 5.3.1). */
export const FLAG_REQUIRES_STANDARD_JOBS = 1 << 0;
export const FLAG_REQUIRES_WORK_SELECTION = 1 << 1;
export const FLAG_REQUIRES_VERSION_ROLLING = 1 << 2;
/** The client flags this server can honour (work selection needs Job Declaration: later work). */
export const SUPPORTED_FLAGS = FLAG_REQUIRES_STANDARD_JOBS | FLAG_REQUIRES_VERSION_ROLLING;

/** Error codes sent to clients (the spec's strings where it has one). */
export const Sv2ErrorCode = {
  UNSUPPORTED_PROTOCOL: 'unsupported-protocol',
  VERSION_MISMATCH: 'protocol-version-mismatch',
  UNSUPPORTED_FLAGS: 'unsupported-feature-flags',
  UNKNOWN_USER: 'unknown-user',
  INVALID_USER: 'invalid-user-identity',
  MAX_TARGET_OUT_OF_RANGE: 'max-target-out-of-range',
  MIN_EXTRANONCE_TOO_LARGE: 'min-extranonce-size-too-large',
  CAPACITY: 'channel-capacity-exhausted',
  NOT_READY: 'pool-not-ready',
  INVALID_CHANNEL: 'invalid-channel-id',
  INVALID_JOB: 'invalid-job-id',
  STALE: 'stale-share',
  LOW_DIFFICULTY: 'difficulty-too-low',
  DUPLICATE: 'duplicate-share',
  INVALID_SHARE: 'invalid-share',
  BAD_EXTRANONCE_SIZE: 'bad-extranonce-size',
} as const;

export type Sv2In =
  | { type: 'SetupConnection'; protocol: number; minVersion: number; maxVersion: number; flags: number; endpointHost: string; endpointPort: number; vendor: string; hardwareVersion: string; firmware: string; deviceId: string }
  | { type: 'OpenStandardMiningChannel'; requestId: number; userIdentity: string; nominalHashRate: number; maxTarget: string }
  | { type: 'OpenExtendedMiningChannel'; requestId: number; userIdentity: string; nominalHashRate: number; maxTarget: string; minExtranonceSize: number }
  | { type: 'UpdateChannel'; channelId: number; nominalHashRate: number; maximumTarget: string }
  | { type: 'CloseChannel'; channelId: number; reasonCode: string }
  | { type: 'SubmitSharesStandard'; channelId: number; sequenceNumber: number; jobId: number; nonce: number; ntime: number; version: number }
  | { type: 'SubmitSharesExtended'; channelId: number; sequenceNumber: number; jobId: number; nonce: number; ntime: number; version: number; extranonce: string }
  | { type: 'Unknown'; msgType: number; extType: number };

export type Sv2Out =
  | { type: 'SetupConnectionSuccess'; usedVersion: number; flags: number }
  | { type: 'SetupConnectionError'; flags: number; errorCode: string }
  | { type: 'ChannelEndpointChanged'; channelId: number }
  | { type: 'Reconnect'; newHost: string; newPort: number }
  | { type: 'OpenStandardMiningChannelSuccess'; requestId: number; channelId: number; target: string; extranoncePrefix: string; groupChannelId: number }
  | { type: 'OpenExtendedMiningChannelSuccess'; requestId: number; channelId: number; target: string; extranonceSize: number; extranoncePrefix: string; groupChannelId: number }
  | { type: 'OpenMiningChannelError'; requestId: number; errorCode: string }
  | { type: 'UpdateChannelError'; channelId: number; errorCode: string }
  | { type: 'CloseChannel'; channelId: number; reasonCode: string }
  | { type: 'NewMiningJob'; channelId: number; jobId: number; minNtime: number | null; version: number; merkleRoot: string }
  | { type: 'NewExtendedMiningJob'; channelId: number; jobId: number; minNtime: number | null; version: number; versionRollingAllowed: boolean; merklePath: string; coinbaseTxPrefix: string; coinbaseTxSuffix: string }
  | { type: 'SetNewPrevHash'; channelId: number; jobId: number; prevHash: string; minNtime: number; nbits: number }
  | { type: 'SetTarget'; channelId: number; maximumTarget: string }
  | { type: 'SubmitSharesSuccess'; channelId: number; lastSequenceNumber: number; newSubmitsAcceptedCount: number; newSharesSum: number }
  | { type: 'SubmitSharesError'; channelId: number; sequenceNumber: number; errorCode: string };
