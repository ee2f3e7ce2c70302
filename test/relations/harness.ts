import type { Client } from "@connectrpc/connect";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { EventService, type SubscribeResponse } from "../../src/gen/im/v1/events_pb.js";
import { ProfileService } from "../../src/gen/im/v1/profile_pb.js";
import { RelationService } from "../../src/gen/im/v1/relation_pb.js";
import { testMongoUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

/** Every backend the service tests run on: the embedded default and MongoDB (FerretDB here). */
export const BACKENDS: [string, () => Record<string, string>][] = [
  ["memory", () => ({})],
  ["mongodb", () => ({ MONGO_URL: testMongoUrl(), MONGO_DATABASE: uniqueName("relations") })],
];

export interface Harness {
  app: TestApp;
  profiles(userId: string): Client<typeof ProfileService>;
  relations(userId: string): Client<typeof RelationService>;
  adminProfiles: Client<typeof ProfileService>;
  adminRelations: Client<typeof RelationService>;
  /** Imports accounts with fresh ids `<prefix>_<n>` (unique per call), returning them. */
  users(count: number, prefix?: string): Promise<string[]>;
}

let serial = 0;

export async function startHarness(env: Record<string, string>): Promise<Harness> {
  const app = await startTestApp(env);
  const accounts = clientAs(AccountService, app.baseUrl, ADMIN);
  return {
    app,
    profiles: (u) => clientAs(ProfileService, app.baseUrl, u),
    relations: (u) => clientAs(RelationService, app.baseUrl, u),
    adminProfiles: clientAs(ProfileService, app.baseUrl, ADMIN),
    adminRelations: clientAs(RelationService, app.baseUrl, ADMIN),
    async users(count, prefix = "u") {
      serial += 1;
      const ids = Array.from({ length: count }, (_, i) => `${prefix}${serial}_${i}`);
      await accounts.importAccounts({
        accounts: ids.map((userId) => ({ userId, nickname: `nick ${userId}` })),
      });
      return ids;
    },
  };
}

type Kind = NonNullable<SubscribeResponse["event"]["case"]>;
/** The payload of one kind of live event. */
export type EventOf<C extends Kind> = Extract<SubscribeResponse["event"], { case: C }>["value"];

export interface LiveStream {
  events: SubscribeResponse[];
  /** The first event of `kind` (past or future) matching, or a rejection after `timeoutMs`. */
  waitFor<C extends Kind>(
    kind: C,
    match?: (value: EventOf<C>) => boolean,
    timeoutMs?: number,
  ): Promise<EventOf<C>>;
  /** Events of one kind received so far. */
  all<C extends Kind>(kind: C): EventOf<C>[];
  close(): void;
}

let devices = 0;

/**
 * Opens a real device stream for `userId` and resolves once it is live (Ready
 * received); each call is a new device unless `deviceId` is given.
 */
export async function openLive(
  baseUrl: string,
  userId: string,
  deviceId = `d${++devices}`,
): Promise<LiveStream> {
  const abort = new AbortController();
  const events: SubscribeResponse[] = [];
  let wake = () => {};
  const stream = clientAs(EventService, baseUrl, userId).subscribe(
    { deviceId },
    { signal: abort.signal },
  );
  void (async () => {
    try {
      for await (const e of stream) {
        events.push(e);
        wake();
      }
    } catch {
      // Closed by the test (abort) or by server shutdown; waiters time out.
    }
  })();

  function all<C extends Kind>(kind: C): EventOf<C>[] {
    return events.flatMap((e) => (e.event.case === kind ? [e.event.value as EventOf<C>] : []));
  }

  async function waitFor<C extends Kind>(
    kind: C,
    match: (value: EventOf<C>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<EventOf<C>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = all(kind).find((v) => match(v));
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        const got = events.map((e) => e.event.case).join(",");
        throw new Error(`no matching ${kind} event within ${timeoutMs} ms; got ${got}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  await waitFor("ready");
  return { events, waitFor, all, close: () => abort.abort() };
}

/** Lets in-flight live deliveries land before asserting that something did NOT arrive. */
export const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));
