import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { testMongoUrl, uniqueName } from "../services/index.js";
import { clientAs, failureOf } from "../support/clients.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// The same flows on the embedded default and on MongoDB (FerretDB here).
describe.each([
  ["memory", () => ({})],
  ["mongodb", () => ({ MONGO_URL: testMongoUrl(), MONGO_DATABASE: uniqueName("accounts") })],
])("AccountService on %s", (_backend, env) => {
  let app: TestApp;
  let admin: ReturnType<typeof clientAs<typeof AccountService>>;
  beforeAll(async () => {
    app = await startTestApp(env());
    admin = clientAs(AccountService, app.baseUrl, ADMIN);
  });
  afterAll(() => app.close());

  it("imports, checks and deletes accounts", async () => {
    expect(
      await admin.importAccounts({
        accounts: [{ userId: "u1", nickname: "One" }, { userId: "u2" }],
      }),
    ).toMatchObject({ createdUserIds: ["u1", "u2"], updatedUserIds: [] });
    expect(await admin.importAccounts({ accounts: [{ userId: "u1" }] })).toMatchObject({
      createdUserIds: [],
      updatedUserIds: ["u1"],
    });
    const check = await admin.checkAccounts({ userIds: ["u2", "nope", "u1"] });
    expect(check.results.map((r) => [r.userId, r.exists])).toEqual([
      ["u2", true],
      ["nope", false],
      ["u1", true],
    ]);
    expect(await admin.deleteAccounts({ userIds: ["u1", "nope"] })).toMatchObject({
      deletedUserIds: ["u1"],
      notFoundUserIds: ["nope"],
    });
    expect((await admin.checkAccounts({ userIds: ["u1"] })).results[0]?.exists).toBe(false);
  });

  it("rejects an invalid batch whole, naming the field", async () => {
    const f = await failureOf(
      admin.importAccounts({ accounts: [{ userId: "fine" }, { userId: "bad id!" }] }),
    );
    expect([f.code, f.reason, f.field]).toEqual([
      Code.InvalidArgument,
      ErrorReason.INVALID_USER_ID,
      "accounts[1].user_id",
    ]);
    expect((await admin.checkAccounts({ userIds: ["fine"] })).results[0]?.exists).toBe(false);
  });

  it.each([
    ["an empty batch", { accounts: [] }, ErrorReason.INVALID_FIELD, "accounts"],
    [
      "more than 100 accounts",
      { accounts: Array.from({ length: 101 }, (_, i) => ({ userId: `m${i}` })) },
      ErrorReason.TOO_MANY_ITEMS,
      "accounts",
    ],
    [
      "a 33-byte id",
      { accounts: [{ userId: "x".repeat(33) }] },
      ErrorReason.INVALID_USER_ID,
      "accounts[0].user_id",
    ],
    [
      "a duplicate id",
      { accounts: [{ userId: "d" }, { userId: "d" }] },
      ErrorReason.INVALID_FIELD,
      "accounts[1].user_id",
    ],
    [
      "a nickname over 500 bytes",
      { accounts: [{ userId: "n", nickname: "é".repeat(251) }] },
      ErrorReason.INVALID_FIELD,
      "accounts[0].nickname",
    ],
  ])("rejects %s", async (_name, req, reason, field) => {
    const f = await failureOf(admin.importAccounts(req));
    expect([f.code, f.reason, f.field]).toEqual([Code.InvalidArgument, reason, field]);
  });

  it("rejects invalid ids in check and delete", async () => {
    const f = await failureOf(admin.checkAccounts({ userIds: ["ok", ""] }));
    expect([f.reason, f.field]).toEqual([ErrorReason.INVALID_USER_ID, "user_ids[1]"]);
    const g = await failureOf(admin.deleteAccounts({ userIds: [] }));
    expect(g.reason).toBe(ErrorReason.INVALID_FIELD);
  });

  it("reports NotFound when invalidating sigs of a missing account", async () => {
    const f = await failureOf(admin.invalidateUserSigs({ userId: "ghost" }));
    expect([f.code, f.reason]).toEqual([Code.NotFound, ErrorReason.ACCOUNT_NOT_FOUND]);
  });
});
