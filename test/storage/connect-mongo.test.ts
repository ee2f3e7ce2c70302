import type { CommandStartedEvent } from "mongodb";
import { afterAll, describe, expect, it } from "vitest";
import { connectMongo, type MongoConnection } from "../../src/storage/mongo/connect-mongo.js";
import { testMongoUrl, uniqueName } from "../services/index.js";

describe("MongoDB connection guarantees (replica-set ready)", () => {
  const opened: MongoConnection[] = [];
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.client.close()));
  });

  const commandsOf = async (write?: Parameters<typeof connectMongo>[2]) => {
    const connection = await connectMongo(testMongoUrl(), uniqueName("wconcern"), {
      monitorCommands: true,
      ...write,
    });
    opened.push(connection);
    const started: CommandStartedEvent[] = [];
    connection.client.on("commandStarted", (e) => started.push(e));
    const docs = connection.db.collection<{ _id: string }>("probe");
    await docs.insertOne({ _id: "a" });
    await docs.updateOne({ _id: "a" }, { $set: { x: 1 } });
    expect(await docs.findOne({ _id: "a" })).toEqual({ _id: "a", x: 1 });
    return { started, connection };
  };

  it("writes with majority write concern by default, and the server accepts it", async () => {
    const { started, connection } = await commandsOf();
    const writes = started.filter((e) => e.commandName === "insert" || e.commandName === "update");
    expect(writes.map((e) => e.command.writeConcern)).toEqual([
      { w: "majority", wtimeout: 10_000 },
      { w: "majority", wtimeout: 10_000 },
    ]);
    const options = connection.client.options;
    expect([options.retryWrites, options.retryReads, options.readPreference.mode]).toEqual([
      true,
      true,
      "primary",
    ]);
  });

  it("takes the configured write concern", async () => {
    const { started } = await commandsOf({ write: { w: 1, wtimeoutMs: 2_000 } });
    const insert = started.find((e) => e.commandName === "insert");
    expect(insert?.command.writeConcern).toEqual({ w: 1, wtimeout: 2_000 });
  });
});
