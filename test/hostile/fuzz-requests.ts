import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import { Health } from "../../src/gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1Alpha } from "../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { BroadcastService } from "../../src/gen/im/v1/broadcast_pb.js";
import { EventService } from "../../src/gen/im/v1/events_pb.js";
import { GroupService } from "../../src/gen/im/v1/group_pb.js";
import { MessageLifecycleService } from "../../src/gen/im/v1/lifecycle_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { PresenceService } from "../../src/gen/im/v1/presence_pb.js";
import { ProfileService } from "../../src/gen/im/v1/profile_pb.js";
import { PushService } from "../../src/gen/im/v1/push_pb.js";
import { ReceiptService } from "../../src/gen/im/v1/receipts_pb.js";
import { RelationService } from "../../src/gen/im/v1/relation_pb.js";
import { TypingService } from "../../src/gen/im/v1/typing_pb.js";
import type { Valid } from "./fuzz-mutations.js";

/**
 * Every service the server routes, from the generated descriptors (fuzz.test.ts checks
 * this against the services the running server lists through reflection).
 */
export const SERVICES: readonly DescService[] = [
  AccountService,
  BroadcastService,
  EventService,
  GroupService,
  MessageLifecycleService,
  MessageService,
  PresenceService,
  ProfileService,
  PushService,
  ReceiptService,
  RelationService,
  TypingService,
  Health,
  ReflectionV1,
  ReflectionV1Alpha,
];

/** The accounts and groups the valid requests refer to. */
export interface FuzzWorld {
  caller: string;
  peer: string;
  /** Deleted or revoked by the destructive RPCs' valid requests. */
  victim: string;
  groupId: string;
  /** Disbanded by DisbandGroup's valid request. */
  spareGroupId: string;
}

export interface FuzzTarget {
  path: string;
  method: DescMethod;
  valid: Valid;
}

const text = { element: { case: "text", value: { text: "fuzz" } } };

/** Requests that must name particular things to be valid (and harmless to the rest). */
function overrides(w: FuzzWorld): Record<string, Record<string, unknown>> {
  return {
    "im.v1.AccountService.ImportAccounts": { accounts: [{ userId: w.victim, nick: "v" }] },
    "im.v1.AccountService.DeleteAccounts": { userIds: [w.victim] },
    "im.v1.AccountService.InvalidateUserSigs": { userId: w.victim },
    "im.v1.EventService.Subscribe": { deviceId: "fuzz-device" },
    "im.v1.MessageService.SendMessage": {
      toUserId: w.peer,
      body: [text],
      cloudCustomData: "c",
      offlinePushInfo: { title: "t", desc: "d", ext: "e" },
    },
    "im.v1.GroupService.CreateGroup": { type: 2, name: "fuzz", memberUserIds: [w.peer] },
    "im.v1.GroupService.ModifyGroup": { groupId: w.groupId, name: "fuzz2" },
    "im.v1.RelationService.ImportFriends": { userId: w.victim, friends: [{ userId: w.peer }] },
    "im.v1.GroupService.SendGroupMessage": { groupId: w.groupId, body: [text] },
    "im.v1.GroupService.SendGroupSystemMessage": { groupId: w.groupId, body: [text] },
    "im.v1.GroupService.DisbandGroup": { groupId: w.spareGroupId },
    "im.v1.GroupService.SetGroupMemberRole": { groupId: w.groupId, userId: w.peer, role: 2 },
    "im.v1.ProfileService.SetProfile": { profile: { nick: "fuzzer", gender: 1 } },
    "grpc.health.v1.Health.Check": { service: "" },
    "grpc.health.v1.Health.Watch": { service: "" },
    // The caller's own device only: a Logout of anything else would end the fuzzing's sessions.
    "im.v1.PresenceService.Logout": { deviceId: "fuzz-device" },
    "grpc.reflection.v1.ServerReflection.ServerReflectionInfo": {
      messageRequest: { case: "listServices", value: "" },
    },
    "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo": {
      messageRequest: { case: "listServices", value: "" },
    },
  };
}

/** A plausible value for each field, by its name: the ids of the world, small numbers. */
function fill(desc: DescMessage, w: FuzzWorld, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of desc.fields) {
    if (field.oneof !== undefined) continue;
    const value = valueFor(field, w, depth);
    if (value !== undefined) out[field.localName] = value;
  }
  return out;
}

function valueFor(field: DescField, w: FuzzWorld, depth: number): unknown {
  const name = field.name;
  const single = (): unknown => {
    if (
      field.fieldKind === "message" ||
      (field.fieldKind === "list" && field.listKind === "message")
    ) {
      return depth < 2 ? fill(field.message, w, depth + 1) : undefined;
    }
    if (field.fieldKind === "enum" || (field.fieldKind === "list" && field.listKind === "enum")) {
      return field.enum.values[1]?.number ?? 0;
    }
    if (field.fieldKind === "map") return undefined;
    if (/group_id$/.test(name)) return w.groupId;
    if (/^as_user_id$|^from_user_id$/.test(name)) return undefined;
    if (/user_ids?$|^to_account$|^from_account$/.test(name)) return w.peer;
    if (/device_id/.test(name)) return "fuzz-device";
    if (/name$|^message$|^remark$|^wording$/.test(name)) return "fuzz";
    if (/limit|page_size/.test(name)) return 5;
    if (/mute_seconds/.test(name)) return 60;
    return undefined;
  };
  const v = single();
  if (v === undefined) return undefined;
  return field.fieldKind === "list" ? [v] : v;
}

/** One valid request per RPC of every service, in both encodings. */
export function fuzzTargets(w: FuzzWorld): FuzzTarget[] {
  const fixed = overrides(w);
  return SERVICES.flatMap((service) =>
    service.methods.map((method) => {
      const init = fixed[`${service.typeName}.${method.name}`] ?? fill(method.input, w, 0);
      const msg = create(method.input, init);
      return {
        path: `/${service.typeName}/${method.name}`,
        method,
        valid: {
          binary: toBinary(method.input, msg),
          json: toJsonString(method.input, msg),
          // Reflection is bidi: sent as one request then the end of the stream, like the rest.
          streaming: method.methodKind !== "unary",
        },
      };
    }),
  );
}
