import { runCli } from "./cli.js";
import { processIo } from "./io.js";

// Entry point for bin.js and `npm run webhook-sim`; everything testable lives in cli.ts.
const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => controller.abort());
}
process.exitCode = await runCli(process.argv.slice(2), processIo(controller.signal));
