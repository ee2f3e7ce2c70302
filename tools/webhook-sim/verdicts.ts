import {
  BEFORE_SEND_VERDICT_KINDS,
  NOTIFICATION_VERDICT_KINDS,
  type RequestEvaluation,
} from "../../src/webhooks/index.js";
import { UsageError } from "./io.js";

/** Every verdict name the simulator prints and `--fail-on` accepts. */
export const VERDICT_NAMES = [
  ...BEFORE_SEND_VERDICT_KINDS,
  ...NOTIFICATION_VERDICT_KINDS.filter(
    (k) => !(BEFORE_SEND_VERDICT_KINDS as readonly string[]).includes(k),
  ),
] as const;

export type VerdictName =
  | (typeof BEFORE_SEND_VERDICT_KINDS)[number]
  | (typeof NOTIFICATION_VERDICT_KINDS)[number];

export const verdictNameOf = (evaluation: RequestEvaluation): VerdictName =>
  evaluation.verdict.kind;

/** What the server does with the message, in words (docs/architecture.md, "Webhook semantics"). */
export function verdictMeaning(evaluation: RequestEvaluation): string {
  if (evaluation.type === "notification") {
    switch (evaluation.verdict.kind) {
      case "acknowledged":
        return "acknowledged (reply ignored)";
      case "timed-out":
        return "timed out (ignored, not retried)";
      case "endpoint-error":
        return `endpoint error: ${evaluation.verdict.reason} (ignored, not retried)`;
    }
  }
  const v = evaluation.verdict;
  switch (v.kind) {
    case "delivered-as-is":
      return "delivered as is";
    case "modified":
      return "modified → delivered with changes";
    case "denied":
      return `denied → sender gets app code ${v.appCode} ${JSON.stringify(v.appText)}`;
    case "dropped":
      return "dropped silently (sender told success, nothing delivered)";
    case "timed-out":
      return "timed out → delivered unchanged";
    case "endpoint-error":
      return `endpoint error: ${v.reason} → delivered unchanged`;
    case "invalid-modification":
      return `invalid modification: ${v.reason} → delivered unchanged`;
  }
}

/** Parses `--fail-on a,b`; throws UsageError for unknown names. */
export function parseVerdictList(raw: string | undefined): Set<VerdictName> {
  if (raw === undefined || raw.trim() === "") return new Set();
  const names = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const name of names) {
    if (!(VERDICT_NAMES as readonly string[]).includes(name)) {
      throw new UsageError(
        `--fail-on: unknown verdict "${name}"; expected any of ${VERDICT_NAMES.join(", ")}`,
      );
    }
  }
  return new Set(names as VerdictName[]);
}
