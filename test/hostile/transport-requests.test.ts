import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { ErrorReason } from "../../src/gen/im/v1/errors_pb.js";
import { SendMessageRequestSchema } from "../../src/gen/im/v1/message_pb.js";
import { ProfileService } from "../../src/gen/im/v1/profile_pb.js";
import { clientAs, failureOf, sigFor } from "../support/clients.js";
import { text } from "../support/elements.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { ADMIN } from "../support/test-app.js";
import { envelope } from "./raw-call.js";
import { type RawProtocol, type RawResult, rawCall, resetPeakRss, rssOf } from "./raw-rpc.js";

/**
 * Requests that must cost the server no more than their headers (no UserSig)
 * or than the RPC's request limit (too large, compressed or not), against the
 * real server command in a child process, so its memory can be read.
 */
let server: ServerProcess;
const SEND = "/im.v1.MessageService/SendMessage";
const SUBSCRIBE = "/im.v1.EventService/Subscribe";
const auth = () => ({ authorization: `Bearer ${sigFor("alice")}` });
/** The server's default ordinary request limit (64 KiB with the 12 KB message limit). */
const REQUEST_MAX_BYTES = 64 * 1024;
/** How much the server's peak RSS may grow while it refuses one hostile request. */
const RSS_GROWTH_MAX_MB = 48;

beforeAll(async () => {
  server = await startServerProcess({});
  await clientAs(AccountService, server.baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: "alice" }, { userId: "bob" }],
  });
}, 60_000);
afterAll(async () => {
  await server?.kill();
});

/** Fails clearly instead of hanging when the server never answers. */
const within = <T>(ms: number, what: string, p: Promise<T>): Promise<T> =>
  Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms),
    ),
  ]);

/** Runs `attack` and returns its result with the server's peak RSS growth meanwhile. */
async function measured(attack: () => Promise<RawResult>): Promise<RawResult & { rssMb: number }> {
  const pid = server.pid();
  if (pid === undefined) throw new Error("the server process is not running");
  const before = rssOf(pid).nowMb;
  resetPeakRss(pid);
  const result = await attack();
  result.close();
  return { ...result, rssMb: rssOf(pid).peakMb - before };
}

/** 30 million two-byte unknown fields (field 15, varint 0): 60 MB that gzip to ~58 KB. */
const bomb = (() => {
  const raw = Buffer.alloc(60_000_000);
  for (let i = 0; i < raw.length; i += 2) raw[i] = 0x78;
  return gzipSync(raw, { level: 9 });
})();

describe("authentication comes before the body", () => {
  const cases: [RawProtocol, 1 | 2, string, number][] = [
    ["connect", 1, SEND, 401],
    ["connect", 2, SEND, 401],
    ["connect-stream", 2, SUBSCRIBE, 200],
    ["grpc", 2, SEND, 200],
    ["grpc-web", 1, SEND, 200],
  ];
  it.each(cases)(
    "%s over HTTP/%d answers a call without a UserSig while its body is still arriving",
    async (protocol, httpVersion, path, status) => {
      // Only 1 KB of a body that never ends (for enveloped protocols, the start of
      // a 60,000-byte message): the answer cannot depend on it.
      const body = new Uint8Array(1024);
      if (protocol !== "connect") new DataView(body.buffer).setUint32(1, 60_000);
      const r = await within(
        8000,
        protocol,
        rawCall({
          baseUrl: server.baseUrl,
          protocol,
          httpVersion,
          path,
          body,
          keepOpen: true,
        }),
      );
      r.close();
      expect([r.status, r.error?.code, r.reason]).toEqual([
        status,
        Code.Unauthenticated,
        ErrorReason.SIG_MISSING,
      ]);
    },
  );

  it("refuses an unauthenticated gzip bomb from its headers, over Connect and gRPC", async () => {
    for (const [protocol, body] of [
      ["connect", bomb],
      ["grpc", envelope(1, bomb)],
    ] as const) {
      const r = await within(
        10_000,
        protocol,
        measured(() =>
          rawCall({
            baseUrl: server.baseUrl,
            protocol,
            httpVersion: 2,
            path: SEND,
            headers: { [protocol === "grpc" ? "grpc-encoding" : "content-encoding"]: "gzip" },
            body,
          }),
        ),
      );
      expect([protocol, r.error?.code, r.reason]).toEqual([
        protocol,
        Code.Unauthenticated,
        ErrorReason.SIG_MISSING,
      ]);
      expect(r.rssMb).toBeLessThan(RSS_GROWTH_MAX_MB);
    }
  });
});

describe("every RPC has a request limit, enforced before parsing", () => {
  it("refuses an authenticated 58 KB gzip bomb fast with REQUEST_TOO_LARGE and bounded memory", async () => {
    const figures: string[] = [];
    for (const [protocol, httpVersion, body] of [
      ["connect", 1, bomb],
      ["connect", 2, bomb],
      ["grpc", 2, envelope(1, bomb)],
      ["grpc-web", 1, envelope(1, bomb)],
    ] as const) {
      const r = await within(
        10_000,
        protocol,
        measured(() =>
          rawCall({
            baseUrl: server.baseUrl,
            protocol,
            httpVersion,
            path: SEND,
            headers: {
              ...auth(),
              [protocol === "connect" ? "content-encoding" : "grpc-encoding"]: "gzip",
            },
            body,
          }),
        ),
      );
      figures.push(`${protocol}/h${httpVersion}: ${r.ms} ms, +${r.rssMb} MB`);
      expect([protocol, r.error?.code, r.reason]).toEqual([
        protocol,
        Code.ResourceExhausted,
        ErrorReason.REQUEST_TOO_LARGE,
      ]);
      expect(r.rssMb).toBeLessThan(RSS_GROWTH_MAX_MB);
    }
    console.info(`gzip bomb (${bomb.byteLength} bytes, 60 MB inflated): ${figures.join("; ")}`);
    await expect(
      clientAs(AccountService, server.baseUrl, "alice").whoAmI({}),
    ).resolves.toMatchObject({ userId: "alice" });
  });

  it("refuses a 50 MB body with REQUEST_TOO_LARGE without buffering it", async () => {
    const big = new Uint8Array(50 * 1024 * 1024);
    const figures: string[] = [];
    for (const [label, protocol, httpVersion, body, headers] of [
      ["connect, declared length", "connect", 1, big, { "content-length": String(big.length) }],
      ["connect, chunked", "connect", 1, big, {}],
      ["connect h2", "connect", 2, big, {}],
      ["grpc, one huge envelope", "grpc", 2, envelope(0, big), {}],
    ] as const) {
      const r = await within(
        20_000,
        label,
        measured(() =>
          rawCall({
            baseUrl: server.baseUrl,
            protocol,
            httpVersion,
            path: SEND,
            headers: { ...auth(), ...headers },
            body,
          }),
        ),
      );
      figures.push(`${label}: ${r.ms} ms, +${r.rssMb} MB${r.cutWhileSending ? " (cut)" : ""}`);
      // HTTP/1.1 can refuse the rest of a body only by closing the connection: a
      // client still sending on a loaded machine may hit the close before it has
      // read the answer. HTTP/2 always delivers the answer.
      const refused = [label, Code.ResourceExhausted, ErrorReason.REQUEST_TOO_LARGE];
      const outcome = r.cutWhileSending
        ? [label, "cut while sending"]
        : [label, r.error?.code, r.reason];
      expect(
        httpVersion === 1 ? [refused, [label, "cut while sending"]] : [refused],
      ).toContainEqual(outcome);
      expect(r.rssMb).toBeLessThan(RSS_GROWTH_MAX_MB);
    }
    console.info(`50 MB body: ${figures.join("; ")}`);
  }, 60_000);

  it("accepts a request just under the limit and refuses one just over it", async () => {
    // A send whose text fills the request to exactly `bytes`.
    const sized = (bytes: number) => {
      const make = (n: number) =>
        toBinary(
          SendMessageRequestSchema,
          create(SendMessageRequestSchema, { toUserId: "bob", body: [text("x".repeat(n))] }),
        );
      let n = bytes - 16;
      while (make(n).byteLength > bytes) n--;
      const encoded = make(n);
      expect(encoded.byteLength).toBe(bytes);
      return encoded;
    };
    const call = (bytes: number) =>
      rawCall({
        baseUrl: server.baseUrl,
        protocol: "grpc",
        httpVersion: 2,
        path: SEND,
        headers: auth(),
        body: envelope(0, sized(bytes)),
      });
    expect((await call(REQUEST_MAX_BYTES + 1)).reason).toBe(ErrorReason.REQUEST_TOO_LARGE);
    // Past the size check: refused for what it says (over the 12 KB message limit).
    expect((await call(REQUEST_MAX_BYTES)).reason).toBe(ErrorReason.MESSAGE_TOO_LARGE);
  });
});

describe("errors quote client input only briefly", () => {
  it("does not echo a 10,000-character field name back in full", async () => {
    const key = `Tag_Profile_Custom_${"x".repeat(10_000)}`;
    const f = await failureOf(
      clientAs(ProfileService, server.baseUrl, "alice", "grpc").setProfile({
        profile: { customFields: { [key]: { value: { case: "stringValue", value: "v" } } } },
      }),
    );
    expect(f.code).toBe(Code.InvalidArgument);
    expect(f.err.rawMessage.length).toBeLessThan(400);
    expect(f.field.length).toBeLessThan(400);
    expect(f.err).toBeInstanceOf(ConnectError);
  });
});
