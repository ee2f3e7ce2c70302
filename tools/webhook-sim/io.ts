/** Where the CLI reads and writes; tests pass buffers instead of the process streams. */
export interface Output {
  write(text: string): void;
  /** True when a person is watching: progress lines are shown. */
  isTTY: boolean;
}

export interface CliIo {
  stdout: Output;
  stderr: Output;
  /** For `--events -`. */
  stdin: AsyncIterable<Buffer | string>;
  env: Readonly<Record<string, string | undefined>>;
  /** serve and record run until this aborts (Ctrl-C in a terminal). */
  signal: AbortSignal;
}

export function processIo(signal: AbortSignal): CliIo {
  return {
    stdout: { write: (t) => process.stdout.write(t), isTTY: process.stdout.isTTY === true },
    stderr: { write: (t) => process.stderr.write(t), isTTY: process.stderr.isTTY === true },
    stdin: process.stdin,
    env: process.env,
    signal,
  };
}

/** Collects output in memory (tests). */
export function bufferOutput(isTTY = false): Output & { text(): string } {
  const chunks: string[] = [];
  return { write: (t) => void chunks.push(t), isTTY, text: () => chunks.join("") };
}

/** Thrown for bad flags or input files: exit code 2 with the message, no stack. */
export class UsageError extends Error {
  override name = "UsageError";
}
