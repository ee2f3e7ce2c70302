import { ErrorReason, invalidArgument } from "../errors/domain-error.js";

/** Opaque paging cursors: base64url JSON, checked on the way back in. */
export const encodeCursor = (position: Record<string, string | number>): string =>
  Buffer.from(JSON.stringify(position)).toString("base64url");

/**
 * Decodes a cursor this server issued; `shape` names each field and its type.
 * Empty means "first page" (undefined). Anything else invalid is INVALID_CURSOR.
 */
export function decodeCursor<T extends Record<string, "string" | "number">>(
  cursor: string,
  shape: T,
): { [K in keyof T]: T[K] extends "string" ? string : number } | undefined {
  if (cursor === "") return undefined;
  const bad = () =>
    invalidArgument(ErrorReason.INVALID_CURSOR, "the cursor is not one this server issued", {
      field: "page.cursor",
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString());
  } catch {
    throw bad();
  }
  if (typeof parsed !== "object" || parsed === null) throw bad();
  for (const [key, type] of Object.entries(shape)) {
    if (typeof (parsed as Record<string, unknown>)[key] !== type) throw bad();
  }
  return parsed as { [K in keyof T]: T[K] extends "string" ? string : number };
}

/** Page size: 0 means the default; anything above the maximum is clamped. */
export const pageSize = (requested: number, fallback: number, max: number): number =>
  requested === 0 ? fallback : Math.min(requested, max);
