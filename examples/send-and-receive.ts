// A runnable tour of the client side, against a running server:
//   npm start                      (in one terminal)
//   npm run example                (in another)
// It imports two accounts as the admin, opens bob's live stream, sends him a
// message from alice, receives it, then reads the conversation back.
// IM_URL, APP_ID, APP_SECRET_KEY and ADMIN_USER_IDS match the server's settings.
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { generateUserSig } from "../src/auth/usersig.js";
import { readConfig } from "../src/config/config.js";
import { AccountService } from "../src/gen/im/v1/account_pb.js";
import { EventService } from "../src/gen/im/v1/events_pb.js";
import { MessageService } from "../src/gen/im/v1/message_pb.js";

const baseUrl = process.env.IM_URL ?? "http://127.0.0.1:8080";
const { appId, secretKey, adminUserIds } = readConfig(process.env);

// Every call carries a UserSig; app servers mint them with any TLSSigAPIv2 library.
const as = (userId: string) => {
  const sig = generateUserSig({ appId, secretKey, userId, expireSec: 3600 });
  const auth: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${sig}`);
    return next(req);
  };
  return createGrpcTransport({ baseUrl, interceptors: [auth] });
};

const admin = [...adminUserIds][0] ?? "administrator";
await createClient(AccountService, as(admin)).importAccounts({
  accounts: [
    { userId: "alice", nickname: "Alice" },
    { userId: "bob", nickname: "Bob" },
  ],
});

const abort = new AbortController();
const bobStream = createClient(EventService, as("bob")).subscribe(
  { deviceId: "bob-laptop" },
  { signal: abort.signal },
);
const received = (async () => {
  for await (const event of bobStream) {
    if (event.event.case === "ready") {
      // The stream is live: now send.
      const sent = await createClient(MessageService, as("alice")).sendMessage({
        toUserId: "bob",
        body: [{ element: { case: "text", value: { text: "hello bob" } } }],
        clientMessageId: `example-${Date.now()}`,
      });
      console.log(`alice sent seq ${sent.seq} in ${sent.conversationId}`);
    }
    if (event.event.case === "message") return event.event.value;
  }
})();
const message = await received;
abort.abort();
const body = message?.body[0]?.element;
console.log(
  `bob received seq ${message?.seq}: ${body?.case === "text" ? body.value.text : body?.case}`,
);

const bob = createClient(MessageService, as("bob"));
const synced = await bob.syncMessages({ peerUserId: "alice", afterSeq: 0n });
console.log(
  `bob's history with alice: ${synced.messages.length} message(s), last seq ${synced.lastSeq}`,
);
const read = await bob.markRead({ peerUserId: "alice" });
console.log(`bob read up to seq ${read.readSeq}; unread now ${read.unreadCount}`);
