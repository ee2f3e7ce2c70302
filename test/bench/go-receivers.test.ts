import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { importAccounts } from "../../bench/accounts.js";
import { goReceiverBinary } from "../../bench/go-receiver-build.js";
import { openGoReceivers } from "../../bench/go-receivers.js";
import { GroupService, GroupType } from "../../src/gen/im/v1/group_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { clientAs, sigFor, transportFor } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { ADMIN } from "../support/test-app.js";

// The group bench's Go receiver (bench/receiver-go) against a real server process:
// it builds, holds gRPC Subscribe streams over h2c, reads each delivery's client
// message id, and stamps it on the bench's clock.
let server: ServerProcess;
const bearer = (userId: string) => ({ authorization: `Bearer ${sigFor(userId)}` });

beforeAll(async () => {
  const [started] = await Promise.all([startServerProcess({}), goReceiverBinary()]);
  server = started;
}, 300_000); // a hang guard: a cold `go build` takes minutes on a loaded 2-core machine

afterAll(async () => {
  await server?.kill("SIGTERM");
});

describe("bench/receiver-go", () => {
  it("counts each stream's deliveries by client message id, stamped between send and report", async () => {
    const bobs = ["grx_bob1", "grx_bob2", "grx_bob3", "grx_bob4", "grx_bob5"];
    await importAccounts(transportFor("grpc", server.baseUrl), bearer(ADMIN), [
      "grx_alice",
      ...bobs,
    ]);
    // The group bench's own case: one group message read by every member's stream,
    // which the receiver batches into one id with a count.
    const groups = clientAs(GroupService, server.baseUrl, "grx_alice");
    const groupId = "grx_group";
    await groups.createGroup({ type: GroupType.PUBLIC, name: "g", groupId, memberUserIds: bobs });
    const got: { id: string; at: number }[] = [];
    const receivers = await openGoReceivers({
      baseUrl: server.baseUrl,
      // Several streams on one connection: each is told apart by its HTTP/2 stream id.
      connections: 2,
      userIds: bobs,
      headersOf: bearer,
      tracker: { delivered: (id, at) => got.push({ id, at }) },
      readyTimeoutMs: 60_000,
    });
    try {
      const alice = clientAs(MessageService, server.baseUrl, "grx_alice");
      const sentAt = performance.now();
      for (const bob of bobs) {
        await alice.sendMessage({ toUserId: bob, body: [text("hi")], clientMessageId: `m-${bob}` });
      }
      await groups.sendGroupMessage({ groupId, body: [text("all")], clientMessageId: "g-all" });
      await eventually(async () => {
        expect(got.map((d) => d.id).sort()).toEqual([
          ...bobs.map(() => "g-all"),
          ...bobs.map((b) => `m-${b}`),
        ]);
      });
      const reportedBy = performance.now();
      for (const d of got) {
        expect(d.at).toBeGreaterThanOrEqual(sentAt);
        expect(d.at).toBeLessThanOrEqual(reportedBy);
      }
      expect(receivers.failures().count).toBe(0);
    } finally {
      await receivers.close();
    }
  });

  it("fails to open when the server ends a stream, saying why", async () => {
    const opening = openGoReceivers({
      baseUrl: server.baseUrl,
      connections: 1,
      userIds: ["grx_nobody"],
      headersOf: () => ({}),
      tracker: { delivered: () => {} },
      readyTimeoutMs: 60_000,
    });
    // 16: Unauthenticated, in the gRPC trailers.
    await expect(opening).rejects.toThrow(/grx_nobody: grpc-status 16/);
  });
});
