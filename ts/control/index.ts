/**
 * The control sockets (ckpool's unix-socket API, behaviour §2.1, §3, §11): framing,
 * the server and its commands, the sockdir / pid-file claim, and the path rules the
 * ckpmsg and notifier clients use.
 */
export * from './framing.js';
export * from './paths.js';
export * from './group.js';
export * from './instance.js';
export * from './commands.js';
export * from './queries.js';
export * from './server.js';
