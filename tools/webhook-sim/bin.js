#!/usr/bin/env node
// Runs the TypeScript entry point through tsx (a runtime dependency), so `npx webhook-sim`
// works from the repo without a build step.
import { register } from "tsx/esm/api";

register();
await import("./main.ts");
