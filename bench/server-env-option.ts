/** Usage line of `--server-env`, shared by the scenarios that take it. */
export const SERVER_ENV_USAGE =
  "  --server-env K=V    a setting for the server (repeatable), e.g. LOOKUP_CACHE_TTL_MS=0\n";

/** Adds one `--server-env NAME=VALUE` to `into`; returns an error message when malformed. */
export function addServerEnv(value: string, into: Record<string, string>): string | undefined {
  const eq = value.indexOf("=");
  if (eq < 1) return `--server-env needs NAME=VALUE, got "${value}"`;
  into[value.slice(0, eq)] = value.slice(eq + 1);
  return undefined;
}
