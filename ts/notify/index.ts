/** Webhook notifications (issue 16): see README §Notifications. */
export { Notifier, outboxDir, type NotifierOptions, type PendingInfo } from './notifier.js';
export { Notifications, type NotificationsOptions, type NotifyTuning } from './service.js';
export { Outbox, webhookKey, isBlockEvent, type NotifyRecord, type NotifyType } from './outbox.js';
export { PresenceTracker, watchNodes, watchUpstream } from './sources.js';
export { eventText, renderBody } from './format.js';
