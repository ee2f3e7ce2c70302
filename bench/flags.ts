import { addServerEnv } from "./server-env-option.js";

/** A command-line mistake: the message, then the scenario's usage ("" for --help). */
export class UsageError extends Error {}

export interface Flags {
  /** `--name value` or `--name=value` options, by name. */
  values: Map<string, string>;
  /** Boolean options given. */
  bools: Set<string>;
  /** Every `--server-env K=V`. */
  serverEnv: Record<string, string>;
  /** A number within [min, max]; throws a UsageError naming the option otherwise. */
  parse(name: string, raw: string, min: number, max: number): number;
  /** The option's number, or `fallback` when not given. */
  num(name: string, fallback: number, min: number, max: number): number;
}

/**
 * The options of one bench scenario: `known` take a value, `bools` none,
 * `--server-env` repeats (only where `known` lists it: a scenario that starts no
 * server from it must not take it silently), `--help` throws UsageError("");
 * anything else is a usage error.
 */
export function parseFlags(
  argv: readonly string[],
  known: readonly string[],
  bools: readonly string[] = [],
): Flags {
  const values = new Map<string, string>();
  const given = new Set<string>();
  const serverEnv: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--help") throw new UsageError("");
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}"`);
    const [name, inline] = arg.slice(2).split("=", 2) as [string, string | undefined];
    if (bools.includes(name)) {
      given.add(name);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    if (name === "server-env" && known.includes("server-env")) {
      const problem = addServerEnv(value, serverEnv);
      if (problem !== undefined) throw new UsageError(problem);
      continue;
    }
    if (!known.includes(name)) throw new UsageError(`unknown option --${name}`);
    values.set(name, value);
  }
  const parse = (name: string, raw: string, min: number, max: number): number => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
  return {
    values,
    bools: given,
    serverEnv,
    parse,
    num: (name, fallback, min, max) => {
      const raw = values.get(name);
      return raw === undefined ? fallback : parse(name, raw, min, max);
    },
  };
}
