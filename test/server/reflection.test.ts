import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ServerReflection as ReflectionV1 } from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1Alpha } from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { buildScript, toolBinary } from "../services/paths.js";
import { sigFor } from "../support/clients.js";
import { ADMIN, startTestApp, type TestApp } from "../support/test-app.js";

// Reflection as the tools people use see it: grpcurl (built by build.sh from the Go module
// proxy) against a real listening server, and both protocol versions through a client.
let app: TestApp;
let addr: string;
beforeAll(async () => {
  app = await startTestApp();
  addr = `127.0.0.1:${app.port}`;
});
afterAll(() => app.close());

const grpcurl = (...args: string[]) => {
  const bin = toolBinary("grpcurl");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run bash ${buildScript}`);
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(bin, ["-plaintext", ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
};

const PUBLIC = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "im.v1.AccountService",
  "im.v1.BroadcastService",
  "im.v1.EventService",
  "im.v1.GroupService",
  "im.v1.MessageLifecycleService",
  "im.v1.MessageService",
  "im.v1.PresenceService",
  "im.v1.ProfileService",
  "im.v1.PushService",
  "im.v1.ReceiptService",
  "im.v1.RelationService",
  "im.v1.TypingService",
];

describe("grpcurl", () => {
  it("lists every public service, without a sig", async () => {
    const { code, stdout, stderr } = await grpcurl(addr, "list");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout.trim().split("\n")).toEqual(PUBLIC);
  });

  it("describes a service and a message from their files and dependencies", async () => {
    const service = await grpcurl(addr, "describe", "im.v1.MessageService");
    expect(service.code, service.stderr).toBe(0);
    expect(service.stdout).toContain("im.v1.MessageService is a service:");
    expect(service.stdout).toContain(
      "rpc SendMessage ( .im.v1.SendMessageRequest ) returns ( .im.v1.SendMessageResponse );",
    );
    // Defined in elements.proto, a dependency of message.proto.
    const message = await grpcurl(addr, "describe", "im.v1.TextElement");
    expect(message.code, message.stderr).toBe(0);
    expect(message.stdout).toContain("string text = 1;");
    const stream = await grpcurl(addr, "describe", "im.v1.EventService.Subscribe");
    expect(stream.stdout).toContain("returns ( stream .im.v1.SubscribeResponse )");
  });

  it("calls methods through the reflected schema; the sig is still required", async () => {
    const imported = await grpcurl(
      "-H",
      `authorization: Bearer ${sigFor(ADMIN)}`,
      "-d",
      '{"accounts":[{"userId":"gc_alice"},{"userId":"gc_bob"}]}',
      addr,
      "im.v1.AccountService/ImportAccounts",
    );
    expect(imported.code, imported.stderr).toBe(0);
    const sent = await grpcurl(
      "-H",
      `authorization: Bearer ${sigFor("gc_alice")}`,
      "-d",
      '{"toUserId":"gc_bob","body":[{"text":{"text":"hi from grpcurl"}}],"clientMessageId":"g-1"}',
      addr,
      "im.v1.MessageService/SendMessage",
    );
    expect(sent.code, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({
      conversationId: "c2c:gc_alice:gc_bob",
      seq: "1",
      messageKey: "c2c:gc_alice:gc_bob:1",
    });

    const anonymous = await grpcurl(
      "-d",
      '{"peerUserId":"gc_alice"}',
      addr,
      "im.v1.MessageService/SyncMessages",
    );
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toContain("Code: Unauthenticated");
  });

  it("finds nothing of the internal node-to-node contract", async () => {
    const { code, stderr } = await grpcurl(addr, "describe", "im.internal.v1.C2cFanoutEvent");
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/not found/i);
  });
});

describe.each([
  ["v1", ReflectionV1],
  ["v1alpha", ReflectionV1Alpha],
] as const)("ServerReflection %s", (_version, service) => {
  const reflect = () => createClient(service, createGrpcTransport({ baseUrl: app.baseUrl }));

  it("answers on one stream: services, a symbol's file with its dependencies once, errors", async () => {
    async function* requests() {
      yield { host: "h", messageRequest: { case: "listServices" as const, value: "" } };
      yield {
        messageRequest: {
          case: "fileContainingSymbol" as const,
          value: "im.v1.EventService.Subscribe",
        },
      };
      // Already sent on this stream: only the requested file comes again.
      yield { messageRequest: { case: "fileByFilename" as const, value: "im/v1/message.proto" } };
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "im.v1.Nope" } };
      yield {
        messageRequest: {
          case: "fileByFilename" as const,
          value: "im/internal/v1/fanout.proto",
        },
      };
    }
    const responses = [];
    for await (const res of reflect().serverReflectionInfo(requests())) responses.push(res);
    expect(responses).toHaveLength(5);
    const [list, symbol, again, missing, internal] = responses;

    expect(list?.validHost).toBe("h");
    expect(list?.messageResponse.case).toBe("listServicesResponse");
    const names =
      list?.messageResponse.case === "listServicesResponse"
        ? list.messageResponse.value.service.map((s) => s.name)
        : [];
    expect(names).toEqual(PUBLIC);

    if (symbol?.messageResponse.case !== "fileDescriptorResponse") {
      throw new Error(`expected files, got ${symbol?.messageResponse.case}`);
    }
    const files = symbol.messageResponse.value.fileDescriptorProto.map((b) =>
      fromBinary(FileDescriptorProtoSchema, b),
    );
    expect(files[0]?.name).toBe("im/v1/events.proto");
    expect(new Set(files.map((f) => f.name))).toEqual(
      new Set([
        "im/v1/events.proto",
        "im/v1/group.proto",
        "im/v1/lifecycle.proto",
        "im/v1/message.proto",
        "im/v1/recall.proto",
        "im/v1/profile.proto",
        "im/v1/relation.proto",
        "im/v1/typing.proto",
        "im/v1/receipts.proto",
        "im/v1/elements.proto",
        "im/v1/paging.proto",
      ]),
    );
    // What a client gets is complete: a registry built from it resolves every type used.
    const registry = createFileRegistry(
      create(FileDescriptorSetSchema, { file: dependenciesFirst(files) }),
    );
    expect(registry.getMessage("im.v1.SubscribeResponse")?.fields.map((f) => f.name)).toContain(
      "message",
    );
    expect(registry.getMessage("im.v1.TextElement")).toBeDefined();

    expect(
      again?.messageResponse.case === "fileDescriptorResponse"
        ? again.messageResponse.value.fileDescriptorProto.map(
            (b) => fromBinary(FileDescriptorProtoSchema, b).name,
          )
        : again?.messageResponse.case,
    ).toEqual(["im/v1/message.proto"]);

    for (const res of [missing, internal]) {
      expect(res?.messageResponse.case).toBe("errorResponse");
      expect(res?.messageResponse.value).toMatchObject({ errorCode: 5 });
    }
  });
});

describe("ServerReflection symbols", () => {
  it("resolves every kind of name protoc scopes, and answers extension queries", async () => {
    const symbols: [string, string][] = [
      ["im.v1.PLATFORM_IOS", "im/v1/events.proto"], // enum values sit beside their enum
      ["im.v1.SendMessageRequest.to_user_id", "im/v1/message.proto"],
      ["im.v1.MessageElement.element", "im/v1/elements.proto"], // a oneof
      ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
      ["grpc.health.v1.HealthCheckResponse.SERVING", "grpc/health/v1/health.proto"],
      [
        "grpc.reflection.v1.ServerReflection.ServerReflectionInfo",
        "grpc/reflection/v1/reflection.proto",
      ],
    ];
    async function* requests() {
      for (const [symbol] of symbols) {
        yield { messageRequest: { case: "fileContainingSymbol" as const, value: symbol } };
      }
      yield {
        messageRequest: { case: "allExtensionNumbersOfType" as const, value: "im.v1.Message" },
      };
      yield { messageRequest: { case: "allExtensionNumbersOfType" as const, value: "im.v1.Nope" } };
      yield {
        messageRequest: {
          case: "fileContainingExtension" as const,
          value: { containingType: "im.v1.Message", extensionNumber: 100 },
        },
      };
    }
    const client = createClient(ReflectionV1, createGrpcTransport({ baseUrl: app.baseUrl }));
    const answers = [];
    for await (const res of client.serverReflectionInfo(requests()))
      answers.push(res.messageResponse);
    const firstFiles = answers
      .slice(0, symbols.length)
      .map((r) =>
        r.case === "fileDescriptorResponse"
          ? fromBinary(
              FileDescriptorProtoSchema,
              r.value.fileDescriptorProto[0] ?? new Uint8Array(),
            ).name
          : r.case,
      );
    expect(firstFiles).toEqual(symbols.map(([, file]) => file));
    const [numbers, unknownType, unknownExtension] = answers.slice(symbols.length);
    expect(numbers).toMatchObject({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "im.v1.Message", extensionNumber: [] },
    });
    expect(unknownType).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
    expect(unknownExtension).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
  });
});

/** createFileRegistry wants a set in dependency order (its resolver variant trips on diamonds). */
function dependenciesFirst(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const out: FileDescriptorProto[] = [];
  const done = new Set<string>();
  const visit = (f: FileDescriptorProto) => {
    if (done.has(f.name)) return;
    done.add(f.name);
    for (const dep of f.dependency) {
      const d = byName.get(dep);
      if (d === undefined)
        throw new Error(`${f.name} imports ${dep}, which reflection did not send`);
      visit(d);
    }
    out.push(f);
  };
  files.forEach(visit);
  return out;
}
