/** Stratum v1 front end (ckpool's connector): listeners, framing, bounded output. */
export {
  StratumServer,
  CloseReason,
  INVALID_JSON_REPLY,
  type StratumConnection,
  type StratumServerOptions,
  type StratumServerStats,
  type StratumServerEvents,
} from './server.js';
export { feedLines, FeedResult, LineFramer, type PartialHolder } from './framing.js';
