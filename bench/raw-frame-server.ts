import http2 from "node:http2";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { MessageElementSchema } from "../src/gen/im/v1/elements_pb.js";
import { EventService, SubscribeResponseSchema } from "../src/gen/im/v1/events_pb.js";
import { GroupMessageKind } from "../src/gen/im/v1/group_pb.js";

/** A bare node:http2 server holding gRPC Subscribe streams: the runtime's floor. */
export interface RawFrameServer {
  port: number;
  /** Writes one group message event, encoded and framed once, to every open stream. */
  broadcast(groupId: string, clientMessageId: string): void;
  close(): Promise<void>;
}

const PATH = `/${EventService.typeName}/${EventService.method.subscribe.name}`;
const frame = (message: MessageInitShape<typeof SubscribeResponseSchema>) =>
  encodeEnvelope(0, toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, message)));

/**
 * Answers EventService.Subscribe over gRPC with Ready and nothing else of the
 * server: no auth, no hub, no store. Used as the raw baseline of the group
 * bench (bench/raw-frame-child.ts) and as the idle-stream floor.
 */
export async function startRawFrameServer(): Promise<RawFrameServer> {
  const ready = frame({
    event: { case: "ready", value: { serverTimeMs: BigInt(Date.now()), keepAliveIntervalMs: 0 } },
  });
  const streams = new Set<http2.ServerHttp2Stream>();
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1_000_000 } });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    if (headers[":path"] !== PATH) {
      stream.respond({ ":status": 404 }, { endStream: true });
      return;
    }
    stream.resume();
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
    stream.write(ready);
    streams.add(stream);
    stream.once("close", () => streams.delete(stream));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  let seq = 0n;
  return {
    port: typeof address === "object" && address !== null ? address.port : 0,
    broadcast(groupId, clientMessageId) {
      seq++;
      // As the server's event for the group bench's short text message.
      const bytes = frame({
        event: {
          case: "groupMessage",
          value: {
            groupId,
            seq,
            messageKey: `${groupId}:${seq}`,
            kind: GroupMessageKind.NORMAL,
            fromUserId: "g_sender",
            timeMs: BigInt(Date.now()),
            body: [
              create(MessageElementSchema, {
                element: {
                  case: "text",
                  value: { text: "benchmark message: the quick brown fox jumps over" },
                },
              }),
            ],
            clientMessageId,
            random: Number(seq),
          },
        },
      });
      for (const stream of streams) stream.write(bytes);
    },
    close: () =>
      new Promise((resolve) => {
        for (const stream of streams) stream.close();
        server.close(() => resolve());
      }),
  };
}
