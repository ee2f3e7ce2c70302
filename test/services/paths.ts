import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The script that builds the local binaries; it is also the one place that knows versions. */
export const buildScript = join(dirname(fileURLToPath(import.meta.url)), "build.sh");

/** Same rule as build.sh: one cache per user, shared by every checkout. */
export function servicesCacheDir(): string {
  const explicit = process.env.IM_TEST_SERVICES_DIR;
  if (explicit) return explicit;
  const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cacheHome, "im-server", "test-services");
}

/** Stable names build.sh maintains (ferretdb is a symlink to the build of the current sources). */
export function ferretDbBinary(): string {
  return join(servicesCacheDir(), "bin", "ferretdb");
}

export function natsServerBinary(): string {
  return join(servicesCacheDir(), "bin", "nats-server");
}

/** A client tool build.sh installs from the Go module proxy (grpcurl, protoc-gen-go, ...). */
export function toolBinary(name: "grpcurl" | "protoc-gen-go" | "protoc-gen-connect-go"): string {
  return join(servicesCacheDir(), "bin", name);
}

/** The venv build.sh makes with examples/python/requirements.txt (grpcio, grpcio-tools). */
export function pythonBinary(): string {
  return join(servicesCacheDir(), "python", "bin", "python");
}
