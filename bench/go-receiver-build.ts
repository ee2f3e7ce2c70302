import { execFile } from "node:child_process";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** bench/receiver-go: the Go module of the cheap receiver. */
const GO_RECEIVER_DIR = join(dirname(fileURLToPath(import.meta.url)), "receiver-go");

let built: Promise<string> | undefined;

/**
 * Builds bench/receiver-go once per process (Go's build cache makes it quick after
 * the first time) and resolves to the binary. Built, not `go run`: the pid the
 * bench reads CPU from must be the receiver's, not the go tool's.
 */
export function goReceiverBinary(): Promise<string> {
  built ??= new Promise((resolve, reject) => {
    const binary = join(GO_RECEIVER_DIR, "receiver-go");
    execFile(
      "go",
      ["build", "-o", binary, "."],
      {
        cwd: GO_RECEIVER_DIR,
        // Go's default install dir, in case the bench's PATH lacks it.
        env: {
          ...process.env,
          PATH: [process.env.PATH ?? "", "/usr/local/go/bin"].join(delimiter),
          CGO_ENABLED: "0",
          GOFLAGS: "-buildvcs=false",
        },
        timeout: 600_000,
      },
      (error, _stdout, stderr) => {
        if (error)
          reject(new Error(`building bench/receiver-go failed: ${error.message}\n${stderr}`));
        else resolve(binary);
      },
    );
  });
  return built;
}
