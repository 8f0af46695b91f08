/** Stratum V2 server (ckpool 1.2's sv2url): see listener.ts, connection.ts, channel.ts. */
export { Sv2Listener, type Sv2ListenerOptions, type Sv2Stats } from './listener.js';
export { loadSv2Keys, type Sv2Keys } from './keys.js';
export { Sv2ErrorCode, type Sv2In, type Sv2Out } from './messages.js';
