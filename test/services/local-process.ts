import { createServer } from "node:net";
import {
  type ProcessOptions,
  type ServiceProcess,
  startManagedProcess,
} from "./managed-process.js";
import { ferretDbBinary, natsServerBinary } from "./paths.js";
import { pingMongo, pingNats } from "./readiness.js";

export type { ServiceProcess } from "./managed-process.js";

/** A loopback port free right now (the OS picks it; someone may still take it before we bind). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error(`unexpected listen address ${String(address)}`));
      });
    });
  });
}

export interface FerretDbOptions {
  port?: number;
  /** SQLite directory; reuse one to see the data of an earlier instance. */
  dataDir?: string;
  startTimeoutMs?: number;
}

/** A private FerretDB (MongoDB wire protocol over SQLite) built by test/services/build.sh. */
export function startFerretDb(options: FerretDbOptions = {}): Promise<ServiceProcess> {
  return startManagedProcess(
    {
      name: "FerretDB",
      binary: ferretDbBinary(),
      args: (port, dir) => ["-listen", `127.0.0.1:${port}`, "-dir", dir],
      url: (port) => `mongodb://127.0.0.1:${port}/`,
      probe: (url) => pingMongo(url),
    },
    options,
    freePort,
  );
}

export interface NatsServerOptions {
  port?: number;
  /** JetStream store directory; reuse one to see the streams of an earlier instance. */
  storeDir?: string;
  startTimeoutMs?: number;
}

/** A private nats-server with JetStream on, built by test/services/build.sh. */
export function startNatsServer(options: NatsServerOptions = {}): Promise<ServiceProcess> {
  const processOptions: ProcessOptions = {
    port: options.port,
    dataDir: options.storeDir,
    startTimeoutMs: options.startTimeoutMs,
  };
  return startManagedProcess(
    {
      name: "nats-server",
      binary: natsServerBinary(),
      args: (port, dir) => ["-js", "-sd", dir, "-p", String(port), "-a", "127.0.0.1"],
      url: (port) => `nats://127.0.0.1:${port}`,
      probe: (url) => pingNats(url),
    },
    processOptions,
    freePort,
  );
}
