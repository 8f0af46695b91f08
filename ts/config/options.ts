/**
 * The resolved command line (flags after implication, name, sockdir, config path): the
 * type every layer below cli/ takes. It lives here, not in cli/, so modes/, pool/ and
 * control/ depend on config/ only; ts/cli/ckpool.ts builds it from argv.
 */
import type { Mode } from './types.js';

/** ckpool's booleans after implication (-N also sets proxy and passthrough, ...). */
export interface CliFlags {
  readonly btcsolo: boolean;
  readonly proxy: boolean;
  readonly passthrough: boolean;
  readonly node: boolean;
  readonly redirector: boolean;
  readonly userproxy: boolean;
  /** -t trusted remote. */
  readonly trusted: boolean;
  readonly handover: boolean;
  /** Also true with -H, which implies -k. */
  readonly killold: boolean;
  readonly logShares: boolean;
  readonly daemonise: boolean;
  readonly quiet: boolean;
  /** The embedded demo's built-in CPU miner (--no-demo-miner: false); absent = on. */
  readonly demoMiner?: boolean;
  /** -T: check the config and exit (0 good, 1 not), starting nothing. */
  readonly testconfig: boolean;
  /** -g: group owning the unix sockets. */
  readonly group?: string;
}

export interface ResolvedOptions {
  readonly mode: Mode;
  /** -n, or the mode's default name (ckpool, ckproxy, ckpassthrough, ckredirector, cknode). */
  readonly name: string;
  /** -c, or `<name>.conf` (relative: resolved against the working directory). */
  readonly configPath: string;
  /** False when configPath is the default, which may be absent (→ embedded demo). */
  readonly configExplicit: boolean;
  /** -s as given, or `/tmp/<name>/`; always ends with '/'. */
  readonly sockdir: string;
  /** 0..7, default 5. */
  readonly loglevel: number;
  /** Program name the user ran (basename, no extension): `ckpool` or `ckproxy`. */
  readonly invokedAs: string;
  readonly flags: CliFlags;
  /**
   * --workers: worker threads serving the miners (pool and solo mode; `auto` is resolved
   * to the CPU count). Absent when not given: the config's `workers`, else one per CPU.
   */
  readonly workers?: number;
}
