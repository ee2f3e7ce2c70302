import type { Client } from "@connectrpc/connect";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { EventService, type SubscribeResponse } from "../../src/gen/im/v1/events_pb.js";
import {
  type GroupMessage,
  GroupService,
  type GroupTipType,
} from "../../src/gen/im/v1/group_pb.js";
import { clientAs } from "../support/clients.js";
import { ADMIN, type TestApp } from "../support/test-app.js";

export type Groups = Client<typeof GroupService>;

/** Imports the accounts and returns a GroupService client per user (plus the app admin). */
export async function groupClients(app: TestApp, users: readonly string[]) {
  if (users.length > 0) {
    await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
      accounts: users.map((userId) => ({ userId })),
    });
  }
  const as = (userId: string): Groups => clientAs(GroupService, app.baseUrl, userId);
  return { as, admin: as(ADMIN) };
}

/** A live device stream that records group events. */
export interface GroupStream {
  events: SubscribeResponse[];
  groupMessages(): GroupMessage[];
  waitFor(match: (e: SubscribeResponse) => boolean, timeoutMs?: number): Promise<SubscribeResponse>;
  waitForTip(groupId: string, type: GroupTipType, timeoutMs?: number): Promise<GroupMessage>;
  close(): void;
}

let devices = 0;

/** Opens a device stream (each call a new device) and resolves once it is live. */
export async function openGroupStream(app: TestApp, userId: string): Promise<GroupStream> {
  const abort = new AbortController();
  const events: SubscribeResponse[] = [];
  const waiters = new Set<() => void>();
  const stream = clientAs(EventService, app.baseUrl, userId).subscribe(
    { deviceId: `d${++devices}` },
    { signal: abort.signal },
  );
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });
  void (async () => {
    try {
      for await (const e of stream) {
        events.push(e);
        if (e.event.case === "ready") resolveReady();
        for (const w of waiters) w();
      }
    } catch {
      // Closed by the test.
    }
  })();
  await ready;
  const waitFor: GroupStream["waitFor"] = (match, timeoutMs = 5000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = events.find(match);
        if (found === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${userId}: no matching event within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  const groupMessages = () =>
    events.flatMap((e) => (e.event.case === "groupMessage" ? [e.event.value] : []));
  return {
    events,
    groupMessages,
    waitFor,
    async waitForTip(groupId, type, timeoutMs) {
      const e = await waitFor(
        (x) =>
          x.event.case === "groupMessage" &&
          x.event.value.groupId === groupId &&
          x.event.value.tip?.type === type,
        timeoutMs,
      );
      return e.event.value as GroupMessage;
    },
    close: () => abort.abort(),
  };
}
