import { DomainError, ErrorReason, invalidField } from "../errors/domain-error.js";
import type { BroadcastStore } from "./broadcast-store.js";
import type { BroadcastSettings } from "./config.js";
import { noLabels, type UserLabels } from "./labels.js";

/** Label limits (reference limits as config). */
export type LabelLimits = Pick<
  BroadcastSettings,
  "tagsPerUserMax" | "tagMaxBytes" | "attributesPerUserMax" | "attributeMaxBytes"
>;

/** Validates one label string: 1..max bytes, no control characters. */
export function assertLabel(value: string, field: string, maxBytes: number): void {
  const bytes = Buffer.byteLength(value);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (bytes === 0 || bytes > maxBytes || /[\u0000-\u001f\u007f]/.test(value)) {
    throw invalidField(field, `1-${maxBytes} bytes without control characters`);
  }
}

/** Optimistic writes retry this often before giving up (a hot user under concurrent admins). */
const MAX_ATTEMPTS = 20;

/**
 * Applies `change` to each user's labels, checking the per-user limits on the
 * result: users without labels get theirs in one bulk insert, the others (and
 * any that raced) by a compare-and-set on their version (no transactions). A
 * user over a limit (as first read) fails the call before anything is written.
 */
export async function updateLabels(
  store: BroadcastStore,
  userIds: readonly string[],
  limits: LabelLimits,
  change: (current: UserLabels) => UserLabels,
): Promise<void> {
  const apply = (userId: string, current: UserLabels) => {
    const next = change({ tags: [...current.tags], attributes: { ...current.attributes } });
    next.tags = [...new Set(next.tags)].sort();
    assertWithinLimits(userId, next, limits);
    return next;
  };
  const found = await store.selectUserLabels(userIds);
  const planned = userIds.map((userId) => {
    const current = found.get(userId);
    return { userId, current, next: apply(userId, current ?? noLabels()) };
  });
  const fresh = planned.filter((p) => p.current === undefined);
  const inserted = await store.insertUserLabels(
    fresh.map((p) => ({ userId: p.userId, labels: p.next })),
  );
  for (const p of planned) {
    if (inserted.has(p.userId)) continue;
    let version = p.current?.version ?? 0;
    let next = p.next;
    for (let attempt = 1; !(await store.replaceUserLabels(p.userId, version, next)); attempt++) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new DomainError(
          "aborted",
          ErrorReason.INTERNAL,
          "labels changed concurrently; retry",
        );
      }
      const current = (await store.selectUserLabels([p.userId])).get(p.userId);
      version = current?.version ?? 0;
      next = apply(p.userId, current ?? noLabels());
    }
  }
}

function assertWithinLimits(userId: string, next: UserLabels, limits: LabelLimits): void {
  if (next.tags.length > limits.tagsPerUserMax) {
    throw new DomainError(
      "resource-exhausted",
      ErrorReason.TOO_MANY_USER_TAGS,
      `${userId} would have more than ${limits.tagsPerUserMax} tags`,
      { field: userId },
    );
  }
  if (Object.keys(next.attributes).length > limits.attributesPerUserMax) {
    throw new DomainError(
      "resource-exhausted",
      ErrorReason.TOO_MANY_USER_ATTRIBUTES,
      `${userId} would have more than ${limits.attributesPerUserMax} attributes`,
      { field: userId },
    );
  }
}
