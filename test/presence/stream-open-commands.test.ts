import { afterAll, beforeAll, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { Platform, UserStatus } from "../../src/gen/im/v1/events_pb.js";
import { GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { PresenceService } from "../../src/gen/im/v1/presence_pb.js";
import type { StoreCommandCounts } from "../../src/storage/storage.js";
import { testMongoUrl, testNatsUrl, uniqueName } from "../services/index.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { openStream } from "../support/streams.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// What one stream open costs the document store, counted by the driver (FerretDB +
// nats-server, two nodes): a user's first stream on a node reads the account (its
// UserSig's check) and the user's groups once; a reopened stream reads neither.
// Only the two reads a stream open makes are counted: other work (timers, other
// components) may send commands meanwhile.
let nodeA: TestApp;
let nodeB: TestApp;
beforeAll(async () => {
  const env = {
    MONGO_URL: testMongoUrl(),
    MONGO_DATABASE: uniqueName("opencmds"),
    MONGO_MONITOR_COMMANDS: "true",
    NATS_URL: testNatsUrl(),
    NATS_NAMESPACE: uniqueName("opencmds"),
    LOOKUP_CACHE_TTL_MS: "3600000",
  };
  [nodeA, nodeB] = await Promise.all([startTestApp(env), startTestApp(env)]);
  await clientAs(AccountService, nodeA.baseUrl, ADMIN).importAccounts({
    accounts: ["walker", "owner"].map((userId) => ({ userId })),
  });
});
afterAll(async () => {
  await Promise.all([nodeA?.close(), nodeB?.close()]);
});

const OPEN_READS = ["find accounts", "find group_members"] as const;

/** The stream-open reads node A sent while `run` ran. */
async function readsDuring(run: () => Promise<void>): Promise<Record<string, number>> {
  const counts = nodeA.storage.commandCounts;
  if (counts === undefined) throw new Error("command monitoring is on");
  const before: StoreCommandCounts = counts();
  await run();
  const after = counts();
  return Object.fromEntries(
    OPEN_READS.map((t) => [t, (after.byTarget[t] ?? 0) - (before.byTarget[t] ?? 0)]),
  );
}

/** Opens the user's web stream on node A, runs `during`, closes it and waits until node A let it go. */
async function session(during: (s: Awaited<ReturnType<typeof openStream>>) => Promise<void>) {
  let stream: Awaited<ReturnType<typeof openStream>> | undefined;
  const reads = await readsDuring(async () => {
    stream = await openStream(
      nodeA.baseUrl,
      "walker",
      "laptop",
      "connect-h2",
      undefined,
      Platform.WEB,
    );
  });
  if (stream === undefined) throw new Error("not opened");
  await during(stream);
  stream.close();
  // Offline once node A's hub released the stream (its stream end is written after that).
  const presence = clientAs(PresenceService, nodeA.baseUrl, ADMIN);
  await eventually(async () => {
    const res = await presence.getUserStatus({ userIds: ["walker"] });
    expect(res.statuses[0]?.status).toBe(UserStatus.OFFLINE);
  });
  return reads;
}

it("a first stream open reads the account and the groups once; a reopen reads nothing, and follows a group joined meanwhile", async () => {
  const nothing = async () => {};
  expect(await session(nothing)).toEqual({ "find accounts": 1, "find group_members": 1 });
  expect(await session(nothing)).toEqual({ "find accounts": 0, "find group_members": 0 });

  // Added to a group on node B while offline: node A's cached list of the
  // user's groups is dropped, so the reopened stream gets the group's messages.
  const owner = clientAs(GroupService, nodeB.baseUrl, "owner");
  const groupId = uniqueName("walkers").slice(0, 40);
  await owner.createGroup({
    type: GroupType.PUBLIC,
    name: "w",
    groupId,
    memberUserIds: ["walker"],
  });
  await session(async (stream) => {
    await eventually(async () => {
      await owner.sendGroupMessage({ groupId, body: [text("hello walker")] });
      await stream.waitFor(
        (e) => e.event.case === "groupMessage" && e.event.value.groupId === groupId,
        1000,
      );
    });
  });
  expect(await session(nothing)).toEqual({ "find accounts": 0, "find group_members": 0 });
});
