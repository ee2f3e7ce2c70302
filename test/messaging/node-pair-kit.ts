import type { Clock } from "../../src/common/clock.js";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { clientAs } from "../support/clients.js";
import { type OpenStream, openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

/**
 * Apps, fresh users and their device streams for tests run on one node and on two:
 * accounts are made through `a`, devices stream from `b` (the same app on one node).
 */
export function nodePairKit(prefix: string) {
  const streams: OpenStream[] = [];
  let n = 0;
  let apps: { a: TestApp; b: TestApp } | undefined;
  const nodes = () => {
    if (apps === undefined) throw new Error("nodePairKit: start() first");
    return apps;
  };
  return {
    async start(settings: Record<string, string>, count: 1 | 2, clock?: Clock) {
      const options = clock === undefined ? {} : { clock };
      const a = await startTestApp(settings, options);
      apps = { a, b: count === 2 ? await startTestApp(settings, options) : a };
      return apps;
    },
    /** Closes the streams, then the apps. */
    async close() {
      for (const s of streams.splice(0)) s.close();
      await apps?.a.close();
      if (apps?.b !== apps?.a) await apps?.b.close();
    },
    async users(count: number) {
      const ids = Array.from(
        { length: count },
        () => `${prefix}${++n}_${Math.random().toString(36).slice(2, 7)}`,
      );
      await clientAs(AccountService, nodes().a.baseUrl, ADMIN).importAccounts({
        accounts: ids.map((userId) => ({ userId })),
      });
      return ids as [string, string, string, string, ...string[]];
    },
    async stream(userId: string) {
      const s = await openStream(nodes().b.baseUrl, userId);
      streams.push(s);
      return s;
    },
    /** A fresh id (groups): unique in the run. */
    uniqueId(kind: string) {
      return `${kind}-${++n}-${Math.random().toString(36).slice(2, 6)}`;
    },
  };
}
