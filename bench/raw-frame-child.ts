/**
 * The raw pre-encoded-frame baseline's process (forked by the group bench): a
 * bare HTTP/2 server (raw-frame-server.ts) that writes, for each message id
 * the parent sends over IPC, one frame made once to every open stream.
 */
import { startRawFrameServer } from "./raw-frame-server.js";

const raw = await startRawFrameServer();
process.on("message", (msg: { groupId: string; id: string }) => raw.broadcast(msg.groupId, msg.id));
process.send?.({ port: raw.port });
