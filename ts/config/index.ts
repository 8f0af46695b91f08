/**
 * ckpool.conf: the only module that knows the config file's keys.
 *
 *   loadConfig(path, mode, opts?)          read + validate a file
 *   parseConfig(text, mode, source, opts?) validate text (tests, embedding)
 *   embeddedDemoConfig(mode)               the no-config-file demo marker config
 */
export { loadConfig, type LoadOptions } from './load.js';
export { parseConfig, embeddedDemoConfig, type ParseOptions } from './parse.js';
export { configError, type ConfigError, type ConfigErrorInfo } from './errors.js';
export { parseHostPort, type HostPort } from './hostport.js';
export * from './defaults.js';
export * from './types.js';
