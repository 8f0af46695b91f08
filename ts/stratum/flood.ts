/**
 * Flood control, one token bucket per connection (config floodrate/floodburst): at most
 * `burst` messages at once, refilled at `rate` per second. V1 connections take a token
 * per line (./server.ts), SV2 connections one per message (../sv2/connection.ts).
 */

/** A connection's bucket: tokens left (-1 before its first message) and when it was last refilled (ms, performance.now()). */
export interface FloodBucket {
  tokens: number;
  tokenTime: number;
}

/** Take `n` tokens; false when the bucket holds fewer (the caller drops the connection). */
export function takeFloodTokens(b: FloodBucket, n: number, burst: number, rate: number, now: number): boolean {
  b.tokens = b.tokens < 0 ? burst : Math.min(burst, b.tokens + ((now - b.tokenTime) * rate) / 1000);
  b.tokenTime = now;
  if (b.tokens < n) return false;
  b.tokens -= n;
  return true;
}
