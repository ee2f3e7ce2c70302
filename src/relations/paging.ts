import { decodeCursor, encodeCursor, pageSize } from "../common/cursor.js";
import { isValidUserId } from "../common/user-id.js";
import { ErrorReason, invalidArgument } from "../errors/domain-error.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export interface Page {
  pageSize: number;
  cursor: string;
}

/** The user id after which the page starts (the last one of the previous page); undefined for the first. */
function afterUserId(cursor: string): string | undefined {
  const after = decodeCursor(cursor, { after: "string" })?.after;
  if (after !== undefined && !isValidUserId(after)) {
    throw invalidArgument(ErrorReason.INVALID_CURSOR, "the cursor is not one this server issued", {
      field: "page.cursor",
    });
  }
  return after;
}

/** One page of items keyed by user id: fetches one extra to know whether more follow. */
export async function pageOf<T>(
  page: Page,
  keyOf: (item: T) => string,
  fetch: (after: string | undefined, limit: number) => Promise<T[]>,
): Promise<{ items: T[]; nextCursor: string }> {
  const size = pageSize(page.pageSize, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const rows = await fetch(afterUserId(page.cursor), size + 1);
  const items = rows.slice(0, size);
  const last = items.at(-1);
  const more = rows.length > size && last !== undefined;
  return { items, nextCursor: more ? encodeCursor({ after: keyOf(last) }) : "" };
}
