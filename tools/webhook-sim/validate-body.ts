import { bodyProblem } from "../../src/conversations/validate-body.js";
import type { BodyValidator } from "../../src/webhooks/index.js";

/** The server's default MESSAGE_MAX_BYTES (reference: 12 KB); override with --max-body-bytes. */
export const DEFAULT_MAX_BODY_BYTES = 12 * 1024;

/**
 * The check a MODIFY result must pass: the messaging component's own validator,
 * the very function the server hands to decideBeforeSend, so the simulator's
 * invalid-modification verdicts cannot drift from the server's.
 */
export const createBodyValidator = (maxBytes = DEFAULT_MAX_BODY_BYTES): BodyValidator =>
  // Events carry no push info, so only the body and custom data count here.
  bodyProblem({ maxMessageBytes: maxBytes, maxPushInfoBytes: maxBytes });
