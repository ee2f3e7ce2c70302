import { Code, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateUserSig } from "../../src/auth/usersig.js";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import {
  clientAs,
  failureOf,
  PROTOCOLS,
  sigFor,
  TEST_APP_ID,
  TEST_SECRET_KEY,
  transportFor,
} from "../support/clients.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

let app: TestApp;
const withSig = (sig: string) =>
  createClient(AccountService, transportFor("connect-h2", app.baseUrl, sig));

beforeAll(async () => {
  app = await startTestApp();
  await clientAs(AccountService, app.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "alice" }, { userId: "bob" }, { userId: "carol" }],
  });
});
afterAll(() => app.close());

describe("WhoAmI on one port", () => {
  it.each(PROTOCOLS)("answers over %s with a UserSig", async (protocol) => {
    const res = await clientAs(AccountService, app.baseUrl, "alice", protocol).whoAmI({});
    expect(res.userId).toBe("alice");
    expect(res.isAdmin).toBe(false);
    expect(Number(res.sigExpiresAtMs)).toBeGreaterThan(Date.now());
  });

  it.each(PROTOCOLS)("rejects a call without a UserSig over %s", async (protocol) => {
    const f = await failureOf(
      clientAs(AccountService, app.baseUrl, undefined, protocol).whoAmI({}),
    );
    expect(f.code).toBe(Code.Unauthenticated);
    expect(f.reason).toBe(ErrorReason.SIG_MISSING);
  });

  it("tells admins they are admins", async () => {
    expect((await clientAs(AccountService, app.baseUrl, ADMIN).whoAmI({})).isAdmin).toBe(true);
  });
});

describe("bad UserSigs", () => {
  const now = Math.floor(Date.now() / 1000);
  it.each([
    [
      "expired",
      sigFor("alice", { issuedAtSec: now - 7200, expireSec: 60 }),
      ErrorReason.SIG_EXPIRED,
    ],
    [
      "for another app",
      generateUserSig({
        appId: TEST_APP_ID + 1,
        secretKey: TEST_SECRET_KEY,
        userId: "alice",
        expireSec: 60,
      }),
      ErrorReason.SIG_WRONG_APP,
    ],
    [
      "signed with another key",
      generateUserSig({ appId: TEST_APP_ID, secretKey: "wrong", userId: "alice", expireSec: 60 }),
      ErrorReason.SIG_BAD_SIGNATURE,
    ],
    ["malformed", "eJyrVkrLz1eyUkpKLFKqBQA", ErrorReason.SIG_MALFORMED],
    ["for an account that does not exist", sigFor("mallory"), ErrorReason.ACCOUNT_NOT_FOUND],
  ])("rejects a sig that is %s", async (_name, sig, reason) => {
    const f = await failureOf(withSig(sig).whoAmI({}));
    expect(f.code).toBe(Code.Unauthenticated);
    expect(f.reason).toBe(reason);
  });

  it("rejects the sigs of a deleted account", async () => {
    const admin = clientAs(AccountService, app.baseUrl, ADMIN);
    await admin.importAccounts({ accounts: [{ userId: "temp" }] });
    const sig = sigFor("temp");
    expect((await withSig(sig).whoAmI({})).userId).toBe("temp");
    await admin.deleteAccounts({ userIds: ["temp"] });
    expect((await failureOf(withSig(sig).whoAmI({}))).reason).toBe(ErrorReason.ACCOUNT_NOT_FOUND);
  });

  it("rejects sigs issued before an invalidation and accepts later ones", async () => {
    const old = sigFor("carol", { issuedAtSec: now - 10 });
    expect((await withSig(old).whoAmI({})).userId).toBe("carol");
    const res = await clientAs(AccountService, app.baseUrl, ADMIN).invalidateUserSigs({
      userId: "carol",
    });
    expect(Number(res.invalidatedBeforeMs)).toBeGreaterThan(0);
    const f = await failureOf(withSig(old).whoAmI({}));
    expect([f.code, f.reason]).toEqual([Code.Unauthenticated, ErrorReason.SIG_REVOKED]);
    const fresh = sigFor("carol", {
      issuedAtSec: Math.floor(Number(res.invalidatedBeforeMs) / 1000) + 1,
    });
    expect((await withSig(fresh).whoAmI({})).userId).toBe("carol");
  });
});

describe("admin-only RPCs", () => {
  it.each([
    [
      "importAccounts",
      (c: ReturnType<typeof withSig>) => c.importAccounts({ accounts: [{ userId: "x" }] }),
    ],
    ["deleteAccounts", (c: ReturnType<typeof withSig>) => c.deleteAccounts({ userIds: ["bob"] })],
    ["checkAccounts", (c: ReturnType<typeof withSig>) => c.checkAccounts({ userIds: ["bob"] })],
    [
      "invalidateUserSigs",
      (c: ReturnType<typeof withSig>) => c.invalidateUserSigs({ userId: "bob" }),
    ],
  ])("%s rejects non-admins with PermissionDenied", async (_name, call) => {
    const f = await failureOf(call(withSig(sigFor("alice"))));
    expect([f.code, f.reason]).toEqual([Code.PermissionDenied, ErrorReason.ADMIN_REQUIRED]);
  });
});
