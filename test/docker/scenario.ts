import { expect } from "vitest";
import { AccountService } from "../../src/gen/im/v1/account_pb.js";
import { MessageService } from "../../src/gen/im/v1/message_pb.js";
import { clientAs } from "../support/clients.js";
import { text } from "../support/elements.js";
import { eventually } from "../support/eventually.js";
import { openStream } from "../support/streams.js";
import { ADMIN } from "../support/test-app.js";

/** send → receive → sync through a server at `baseUrl` (a container's, here). */
export async function sendReceiveSync(baseUrl: string, tag: string): Promise<void> {
  const [alice, bob] = [`alice-${tag}`, `bob-${tag}`];
  await clientAs(AccountService, baseUrl, ADMIN).importAccounts({
    accounts: [{ userId: alice }, { userId: bob }],
  });
  const bobStream = await openStream(baseUrl, bob, `${bob}-phone`);
  try {
    const sent = await clientAs(MessageService, baseUrl, alice).sendMessage({
      toUserId: bob,
      body: [text(`hello from ${tag}`)],
      clientMessageId: `${tag}-1`,
    });
    const [received] = await bobStream.waitForMessages(1, 30_000);
    expect([received?.conversationId, received?.seq]).toEqual([sent.conversationId, sent.seq]);
    await eventually(async () => {
      const synced = await clientAs(MessageService, baseUrl, bob).syncMessages({
        peerUserId: alice,
      });
      expect(synced.messages.map((m) => [m.seq, m.clientMessageId])).toEqual([
        [sent.seq, `${tag}-1`],
      ]);
    });
  } finally {
    bobStream.close();
  }
}
