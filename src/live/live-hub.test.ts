import { create } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../../test/support/eventually.js";
import { createMemoryBus } from "../bus/memory-bus.js";
import { createMemoryHub } from "../bus/memory-hub.js";
import {
  Platform,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from "../gen/im/v1/events_pb.js";
import { GroupMessageSchema } from "../gen/im/v1/group_pb.js";
import { silentLogger } from "../log/logger.js";
import { createLiveHub, type FollowedGroup, type LiveHub } from "./live-hub.js";

const message = (groupId: string, seq: number): SubscribeResponse =>
  create(SubscribeResponseSchema, {
    event: {
      case: "groupMessage",
      value: create(GroupMessageSchema, { groupId, seq: BigInt(seq) }),
    },
  });

/** One event-loop turn: pending microtasks, then the callbacks setImmediate queued. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Lets the in-process bus and the hub finish what they were handed. Counts event-loop
 * turns rather than milliseconds: the live path queues only microtasks and setImmediate
 * callbacks (no timers), so a fixed number of turns does the same work on a loaded
 * machine as on an idle one. 50 turns is far more than any path here needs.
 */
const settle = async (turns = 50) => {
  for (let i = 0; i < turns; i++) await turn();
};

interface Reader {
  seqs: () => number[];
  close: () => void;
}

const aborts: AbortController[] = [];
afterEach(() => {
  for (const a of aborts.splice(0)) a.abort();
});

let devices = 0;

/** Opens a stream (of a new device) and collects the group message seqs it yields; resolves after Ready. */
async function open(hub: LiveHub, userId: string): Promise<Reader> {
  const abort = new AbortController();
  aborts.push(abort);
  const seqs: number[] = [];
  const stream = hub.stream(
    {
      userId,
      deviceId: `device-${++devices}`,
      platform: Platform.UNSPECIFIED,
      sigIssuedAtMs: 0,
      sigExpiresAtMs: Number.MAX_SAFE_INTEGER,
    },
    abort.signal,
  );
  const first = await stream.next();
  expect(first.value?.event.case).toBe("ready");
  void (async () => {
    for await (const e of stream) {
      if (e.event.case === "groupMessage") seqs.push(Number(e.event.value.seq));
    }
  })();
  return { seqs: () => seqs, close: () => abort.abort() };
}

/** Two nodes on one (in-process) bus; `groupsOf` answers from `memberships`. */
function twoNodes(
  memberships: Map<string, FollowedGroup[]>,
  groupsOf?: (userId: string) => Promise<readonly FollowedGroup[]>,
  wakeTurnMs?: number,
) {
  const busHub = createMemoryHub();
  const node = () =>
    createLiveHub({
      bus: createMemoryBus({ clock: Date.now, logger: silentLogger, hub: busHub }),
      clock: Date.now,
      logger: silentLogger,
      keepAliveMs: 60_000,
      maxQueuedEvents: 100,
      maxStreamsPerUser: 10_000,
      authorityCheckMs: 1000,
      groupsOf: groupsOf ?? (async (userId) => memberships.get(userId) ?? []),
      ...(wakeTurnMs === undefined ? {} : { wakeTurnMs }),
    });
  return [node(), node()] as const;
}

describe("live hub group delivery", () => {
  it("delivers one group publish to members' streams on every node, honouring except and discarding", async () => {
    const [a, b] = twoNodes(
      new Map([
        ["ann", [{ groupId: "g", discarding: false }]],
        ["bob", [{ groupId: "g", discarding: false }]],
        ["dan", [{ groupId: "g", discarding: true }]],
        ["eve", [{ groupId: "other", discarding: false }]],
      ]),
    );
    const ann = await open(a, "ann");
    const bob = await open(b, "bob");
    const dan = await open(b, "dan");
    const eve = await open(a, "eve");

    b.publishToGroup("g", message("g", 1), { skipDiscarding: true });
    a.publishToGroup("g", message("g", 2), { skipDiscarding: true, exceptUserIds: ["bob"] });
    a.publishToGroup("g", message("g", 3)); // a tip: discarding members get it too
    await settle();
    expect(ann.seqs()).toEqual([1, 2, 3]);
    expect(bob.seqs()).toEqual([1, 3]);
    expect(dan.seqs()).toEqual([3]);
    expect(eve.seqs()).toEqual([]);
  });

  it("follows joins, exits, option changes and a closed group on open streams", async () => {
    const [a, b] = twoNodes(new Map());
    const ann = await open(b, "ann");

    a.changeGroupMembership("g", "ann", { member: true, discarding: false });
    await settle();
    a.publishToGroup("g", message("g", 1), { skipDiscarding: true });
    a.changeGroupMembership("g", "ann", { member: true, discarding: true });
    await settle();
    a.publishToGroup("g", message("g", 2), { skipDiscarding: true });
    a.changeGroupMembership("g", "ann", { member: false });
    await settle();
    a.publishToGroup("g", message("g", 3));
    a.changeGroupMembership("g", "ann", { member: true, discarding: false });
    await settle();
    a.publishToGroup("g", message("g", 4));
    a.closeGroup("g");
    await settle();
    a.publishToGroup("g", message("g", 5));
    await settle();
    expect(ann.seqs()).toEqual([1, 4]);
  });

  it("applies a membership change that arrives while the user's groups are being read", async () => {
    let answer: (groups: FollowedGroup[]) => void = () => {};
    const reading = new Promise<FollowedGroup[]>((resolve) => {
      answer = resolve;
    });
    const [a, b] = twoNodes(new Map(), () => reading);
    const opening = open(b, "ann");
    await settle();
    // The join lands after the read started, and the read does not see it.
    a.changeGroupMembership("joined", "ann", { member: true, discarding: false });
    // The exit too: the read (older) still lists the group.
    a.changeGroupMembership("left", "ann", { member: false });
    await settle();
    answer([{ groupId: "left", discarding: false }]);
    const ann = await opening;

    a.publishToGroup("joined", message("joined", 1));
    a.publishToGroup("left", message("left", 2));
    await settle();
    expect(ann.seqs()).toEqual([1]);
  });

  it("stops feeding a user's groups once the user's last stream on the node closes", async () => {
    const [a, b] = twoNodes(new Map([["ann", [{ groupId: "g", discarding: false }]]]));
    const first = await open(b, "ann");
    const second = await open(b, "ann");
    first.close();
    await settle();
    a.publishToGroup("g", message("g", 1));
    await settle();
    expect(second.seqs()).toEqual([1]);
    second.close();
    await settle();
    // Reopened: the groups are read again.
    const third = await open(b, "ann");
    a.publishToGroup("g", message("g", 2));
    await settle();
    expect(third.seqs()).toEqual([2]);
    expect(b.openStreams()).toBe(1);
  });

  it("wakes a big group's streams over several event-loop turns, so other I/O is not starved", async () => {
    const userIds = Array.from({ length: 1000 }, (_, i) => `u${i}`);
    // A zero budget: each turn wakes one clock check's worth of streams (a real turn
    // would fit these 1,000 in-process streams in its 15 ms).
    const [a, b] = twoNodes(
      new Map(userIds.map((id) => [id, [{ groupId: "big", discarding: false }]])),
      undefined,
      0,
    );
    const readers: Reader[] = [];
    for (const id of userIds) readers.push(await open(b, id));
    const got = () => readers.filter((r) => r.seqs().length === 1).length;

    a.publishToGroup("big", message("big", 1));
    // A callback queued now runs after the first batch of streams, not after all of them.
    const atNextTurn = await new Promise<number>((resolve) =>
      setImmediate(() => setImmediate(() => resolve(got()))),
    );
    expect(atNextTurn).toBeLessThan(userIds.length);
    await eventually(async () => expect(got()).toBe(userIds.length));
  });
});
