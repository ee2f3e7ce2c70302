// The webhooks component's public API: the server's send path and tools/webhook-sim import
// from here, never from the files behind it.
export {
  createWebhookClient,
  type NotificationVerdictKind,
  type WebhookClient,
  type WebhookClientDeps,
  type WebhookStats,
} from "./client.js";
export {
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  describeWebhookConfig,
  MAX_WEBHOOK_TIMEOUT_MS,
  readWebhookConfig,
  type WebhookConfig,
} from "./config.js";
export {
  BEFORE_SEND_VERDICT_KINDS,
  type BeforeSendOutcome,
  type BeforeSendVerdict,
  type BeforeSendVerdictKind,
  type BodyValidator,
  beforeSendOutcomeOf,
  classifyNotification,
  contentAfterVerdict,
  decideBeforeSend,
  NOTIFICATION_VERDICT_KINDS,
  type NotificationVerdict,
  verdictDelivers,
} from "./decision.js";
export {
  createWebhookRequest,
  decodeWebhookRequest,
  encodeBeforeSendReply,
  encodeWebhookRequest,
  type ParsedReply,
  parseBeforeSendReply,
  type WebhookRequestHeader,
  webhookRequestToJson,
} from "./encoding.js";
export { evaluateWebhookResult, type RequestEvaluation } from "./evaluate.js";
export {
  type AfterSendEvent,
  type BeforeSendEvent,
  commandOfCase,
  contentOf,
  eventNameOfCase,
  eventNameOfCommand,
  type GroupChangeEvent,
  isBeforeSendEvent,
  isWebhookEventName,
  type MessageContent,
  requestShapeError,
  WEBHOOK_EVENT_NAMES,
  type WebhookEvent,
  type WebhookEventCase,
  type WebhookEventName,
} from "./events.js";
export {
  createNodeHttpTransport,
  DEFAULT_MAX_REPLY_BYTES,
  DEFAULT_RELAY_MARGIN_MS,
  type FetchLike,
  fetchTransport,
  type HttpTransport,
  type MonotonicNow,
  monotonicNow,
  type PostWebhookInput,
  postWebhook,
  proxyBudgetMs,
  repliedInTime,
  type TransportReply,
  type WebhookHttpResult,
} from "./http-caller.js";
export {
  buildWebhookHttpRequest,
  type SendDeps,
  sendWebhookRequest,
  WEBHOOK_USER_AGENT,
  type WebhookTarget,
} from "./sender.js";
export {
  COMMAND_HEADER,
  computeSignature,
  createSeenEventIds,
  DEFAULT_REPLAY_WINDOW_MS,
  EVENT_ID_HEADER,
  type SeenEventIds,
  SIGNATURE_HEADER,
  SIGNATURE_VERSION,
  SIGNATURE_VERSION_HEADER,
  type SignatureCheck,
  type SignatureFailure,
  type SignedFields,
  signedHeaders,
  TIMESTAMP_HEADER,
  type VerifySignatureInput,
  verifySignature,
} from "./signing.js";
