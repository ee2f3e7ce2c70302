import { randomUUID } from "node:crypto";
import { generateUserSig } from "../../src/auth/usersig.js";
import { isWebhookEventName, type WebhookEventName } from "../../src/webhooks/index.js";
import { UsageError } from "./io.js";

/**
 * `trigger`: makes a real server emit an event by doing, through its public API
 * (Connect JSON over HTTP), what causes it, as an app admin. The endpoint then
 * receives a real signed request from the server, not a simulation.
 */
export interface TriggerOptions {
  /** Server base URL, e.g. http://127.0.0.1:8080. */
  server: string;
  event: WebhookEventName;
  /** Sender (C2C, group messages) or group owner. */
  from: string;
  /** Recipient (C2C) or the member who joins / is removed. */
  to: string;
  /** Group for group events; created (Public, owned by `from`) when missing. */
  group: string;
  text: string;
  /** UserSig of an app admin. */
  adminSig: string;
  log: (line: string) => void;
}

/** Accepts Stripe-style `c2c.before-send` as well as the event name `c2c-before-send`. */
export function parseTriggerEvent(raw: string | undefined): WebhookEventName {
  const name = (raw ?? "").replace(".", "-");
  if (!isWebhookEventName(name)) {
    throw new UsageError(`trigger: unknown event "${raw ?? ""}"`);
  }
  return name;
}

export function adminUserSig(input: {
  appId: number;
  secretKey: string;
  adminUserId: string;
}): string {
  return generateUserSig({ ...input, userId: input.adminUserId, expireSec: 600 });
}

class RpcError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function runTrigger(o: TriggerOptions): Promise<void> {
  const call = async (method: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${o.server.replace(/\/$/, "")}/im.v1.${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${o.adminSig}` },
      body: JSON.stringify(body),
    });
    const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      throw new RpcError(
        String(json.code ?? res.status),
        `${method}: ${String(json.message ?? res.statusText)}`,
      );
    }
    return json;
  };
  const body = [{ text: { text: o.text } }];

  const ensureAccounts = async (ids: string[]): Promise<void> => {
    const checked = await call("AccountService/CheckAccounts", { userIds: ids });
    const results = (checked.results ?? []) as { userId: string; exists?: boolean }[];
    const missing = results.filter((r) => r.exists !== true).map((r) => r.userId);
    if (missing.length === 0) return;
    await call("AccountService/ImportAccounts", {
      accounts: missing.map((userId) => ({ userId })),
    });
    o.log(`created accounts ${missing.join(", ")}`);
  };
  const members = async (groupId: string): Promise<Set<string>> => {
    const got = await call("GroupService/GetGroupMembers", { groupId, userIds: [o.to] });
    const list = (got.members ?? []) as { userId: string }[];
    return new Set(list.map((m) => m.userId));
  };
  const ensureGroup = async (): Promise<void> => {
    try {
      await call("GroupService/GetGroup", { groupId: o.group });
    } catch (err) {
      if (!(err instanceof RpcError) || err.code !== "not_found") throw err;
      await call("GroupService/CreateGroup", {
        type: "GROUP_TYPE_PUBLIC",
        name: "webhook-sim",
        groupId: o.group,
        ownerUserId: o.from,
      });
      o.log(`created group ${o.group} owned by ${o.from}`);
    }
  };
  const newGroup = async (): Promise<string> => {
    const created = await call("GroupService/CreateGroup", {
      type: "GROUP_TYPE_PUBLIC",
      name: "webhook-sim",
      groupId: `${o.group}-${randomUUID().slice(0, 8)}`,
      ownerUserId: o.from,
      memberUserIds: [o.to],
    });
    const groupId = String((created.group as { groupId?: string } | undefined)?.groupId ?? "");
    o.log(`created group ${groupId}`);
    return groupId;
  };

  /** Sends, then recalls what was sent (as the app admin). */
  const recall = async (conversationType: string, conversationId: string, seq: unknown) => {
    await call("MessageLifecycleService/RecallMessage", { conversationType, conversationId, seq });
    o.log(`recalled ${conversationId} seq ${String(seq)}`);
  };

  /** Sends `body` from --from to --to; returns where it went, for a recall or an edit. */
  const sendToPeer = async (): Promise<[string, string, unknown]> => {
    await ensureAccounts([o.from, o.to]);
    const sent = await call("MessageService/SendMessage", {
      fromUserId: o.from,
      toUserId: o.to,
      body,
    });
    return ["CONVERSATION_TYPE_C2C", String(sent.conversationId), sent.seq];
  };
  /** Sends `body` from --from to --group; returns where it went. */
  const sendToGroup = async (): Promise<[string, string, unknown]> => {
    await ensureAccounts([o.from]);
    await ensureGroup();
    const sent = await call("GroupService/SendGroupMessage", {
      groupId: o.group,
      fromUserId: o.from,
      body,
    });
    return ["CONVERSATION_TYPE_GROUP", o.group, sent.seq];
  };

  /** Edits what was just sent (as the app admin): the text gets " (edited)". */
  const edit = async (conversationType: string, conversationId: string, seq: unknown) => {
    const edited = [{ text: { text: `${o.text} (edited)` } }];
    await call("MessageLifecycleService/EditMessage", {
      conversationType,
      conversationId,
      seq,
      body: edited,
    });
    o.log(`edited ${conversationId} seq ${String(seq)}`);
  };

  switch (o.event) {
    case "c2c-before-send":
    case "c2c-after-send": {
      await ensureAccounts([o.from, o.to]);
      const sent = await call("MessageService/SendMessage", {
        fromUserId: o.from,
        toUserId: o.to,
        body,
      });
      o.log(`${o.from} sent to ${o.to}: ${JSON.stringify(sent)}`);
      return;
    }
    case "group-before-send":
    case "group-after-send": {
      await ensureAccounts([o.from]);
      await ensureGroup();
      const sent = await call("GroupService/SendGroupMessage", {
        groupId: o.group,
        fromUserId: o.from,
        body,
      });
      o.log(`${o.from} sent to group ${o.group}: ${JSON.stringify(sent)}`);
      return;
    }
    case "group-after-create":
      await ensureAccounts([o.from, o.to]);
      await newGroup();
      return;
    case "group-after-member-join":
    case "group-after-member-exit": {
      await ensureAccounts([o.from, o.to]);
      await ensureGroup();
      const isMember = (await members(o.group)).has(o.to);
      // The event needs the opposite state first: leave to join, join to leave.
      const join = o.event === "group-after-member-join";
      if (isMember === join) {
        await call(join ? "GroupService/RemoveGroupMembers" : "GroupService/AddGroupMembers", {
          groupId: o.group,
          userIds: [o.to],
        });
      }
      await call(join ? "GroupService/AddGroupMembers" : "GroupService/RemoveGroupMembers", {
        groupId: o.group,
        userIds: [o.to],
      });
      o.log(`${o.to} ${join ? "added to" : "removed from"} group ${o.group}`);
      return;
    }
    case "c2c-after-recall":
      return recall(...(await sendToPeer()));
    case "group-after-recall":
      return recall(...(await sendToGroup()));
    case "c2c-before-edit":
      return edit(...(await sendToPeer()));
    case "group-before-edit":
      return edit(...(await sendToGroup()));
    case "user-after-state-change": {
      // A device of the admin logs in (opens its stream) and logs out: two events.
      const deviceId = `webhook-sim-${randomUUID().slice(0, 8)}`;
      const abort = new AbortController();
      const json = new TextEncoder().encode(JSON.stringify({ deviceId, platform: "PLATFORM_WEB" }));
      const frame = new Uint8Array(5 + json.length);
      new DataView(frame.buffer).setUint32(1, json.length);
      frame.set(json, 5);
      const res = await fetch(`${o.server.replace(/\/$/, "")}/im.v1.EventService/Subscribe`, {
        method: "POST",
        headers: {
          "content-type": "application/connect+json",
          authorization: `Bearer ${o.adminSig}`,
        },
        body: frame,
        signal: abort.signal,
      });
      try {
        if (!res.ok || res.body === null) {
          throw new RpcError(String(res.status), `EventService/Subscribe: ${res.statusText}`);
        }
        // The first frame is Ready: the login has been recorded.
        await res.body.getReader().read();
        await call("PresenceService/Logout", { deviceId });
      } finally {
        abort.abort();
      }
      o.log(`device ${deviceId} logged in and out`);
      return;
    }
    case "group-after-disband": {
      await ensureAccounts([o.from, o.to]);
      const groupId = await newGroup();
      await call("GroupService/DisbandGroup", { groupId });
      o.log(`disbanded group ${groupId}`);
      return;
    }
  }
}
