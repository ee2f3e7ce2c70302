import {
  type ServiceProcess,
  startFerretDb,
  startNatsServer,
} from "../test/services/local-process.js";
import { findPidByArg } from "./proc-stats.js";

/**
 * The real backing services, started fresh for one bench run: FerretDB (MongoDB
 * wire protocol over SQLite) and nats-server with JetStream, each in its own temp
 * dir. The test harness's process helpers kill them and remove the dirs even if
 * the bench itself is killed.
 */
export interface Stack {
  mongoUrl: string;
  natsUrl: string;
  /** Service pids for CPU and memory readings (undefined if not found). */
  pids: { ferretdb: number | undefined; nats: number | undefined };
  dispose(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const started: ServiceProcess[] = [];
  try {
    const [ferret, nats] = await Promise.all([
      startFerretDb().then((p) => {
        started.push(p);
        return p;
      }),
      startNatsServer().then((p) => {
        started.push(p);
        return p;
      }),
    ]);
    return {
      mongoUrl: ferret.url,
      natsUrl: nats.url,
      // Their data dirs are fresh temp dirs, so they identify the processes.
      pids: { ferretdb: findPidByArg(ferret.dataDir), nats: findPidByArg(nats.dataDir) },
      dispose: async () => {
        await Promise.all([ferret.dispose(), nats.dispose()]);
      },
    };
  } catch (err) {
    await Promise.all(started.map((p) => p.dispose()));
    throw err;
  }
}
