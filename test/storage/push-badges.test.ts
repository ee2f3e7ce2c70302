import { MongoClient } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { deviceKey } from "../../src/push/store.js";
import { openMongoStorage, type Storage } from "../../src/storage/storage.js";
import { testMongoUrl, uniqueName } from "../services/index.js";

/** A registration as the adapter stored it before badges moved out. */
interface LegacyRegistration {
  _id: string;
  userId: string;
  deviceId: string;
  channel: string;
  token: string;
  tokenKey: string;
  badge: number;
  updatedAtMs: number;
}

describe("push badges on MongoDB", () => {
  const opened: Storage[] = [];
  const clients: MongoClient[] = [];
  afterAll(async () => {
    await Promise.all([...opened.map((s) => s.close()), ...clients.map((c) => c.close())]);
  });

  it("carries over the badge of a registration stored before badges moved to their own collections", async () => {
    const database = uniqueName("badges");
    const storage = await openMongoStorage(testMongoUrl(), database);
    opened.push(storage);
    const client = new MongoClient(testMongoUrl());
    clients.push(client);
    // As the adapter wrote it before: the badge inside the registration, no badge document.
    await client.db(database).collection<LegacyRegistration>("push_registrations").insertOne({
      _id: "old/phone",
      userId: "old",
      deviceId: "phone",
      channel: "fcm",
      token: "t-old",
      tokenKey: "fcm:t-old",
      badge: 4,
      updatedAtMs: 1,
    });
    const phone = [{ userId: "old", deviceId: "phone" }];
    expect(await storage.pushTokens.selectBadges(phone)).toEqual(
      new Map([[deviceKey("old", "phone"), 4]]),
    );
    expect(await storage.pushTokens.incrementBadges(phone)).toEqual(
      new Map([[deviceKey("old", "phone"), 5]]),
    );
  });
});
