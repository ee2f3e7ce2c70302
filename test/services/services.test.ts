import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { MongoClient } from "mongodb";
import { describe, expect, it } from "vitest";
import { startFerretDb, startNatsServer, testMongoUrl, testNatsUrl, uniqueName } from "./index.js";

// These prove the harness gives real servers, not stand-ins: the features the design relies
// on (unique indexes, JetStream dedup, durability across kill -9) are exercised for real.

describe("shared MongoDB", () => {
  it("stores and reads a document and enforces a unique index", async () => {
    const client = new MongoClient(testMongoUrl());
    try {
      const db = client.db(uniqueName("services"));
      const things = db.collection<{ key: string; n: number }>("things");
      await things.createIndex({ key: 1 }, { unique: true });
      await things.insertOne({ key: "a", n: 1 });
      expect(await things.findOne({ key: "a" }, { projection: { _id: 0 } })).toEqual({
        key: "a",
        n: 1,
      });
      await expect(things.insertOne({ key: "a", n: 2 })).rejects.toMatchObject({ code: 11000 });
      expect(await things.countDocuments()).toBe(1);
      await db.dropDatabase();
    } finally {
      await client.close();
    }
  });
});

describe("shared NATS", () => {
  it("deduplicates JetStream publishes by Nats-Msg-Id", async () => {
    const nc = await connect({ servers: testNatsUrl() });
    try {
      const jsm = await jetstreamManager(nc);
      const stream = uniqueName("services");
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
      const js = jetstream(nc);
      const first = await js.publish(`${stream}.x`, "hello", { msgID: "m-1" });
      const again = await js.publish(`${stream}.x`, "hello", { msgID: "m-1" });
      expect(first.duplicate).toBe(false);
      expect(again.duplicate).toBe(true);
      expect(again.seq).toBe(first.seq);
      expect((await jsm.streams.info(stream)).state.messages).toBe(1);
      await jsm.streams.delete(stream);
    } finally {
      await nc.close();
    }
  });
});

describe("private processes survive kill -9 and restart", () => {
  it("nats-server keeps acknowledged JetStream messages", async () => {
    const nats = await startNatsServer();
    try {
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "crash", subjects: ["crash.>"], storage: StorageType.File });
      const js = jetstream(nc);
      for (let i = 1; i <= 3; i++) await js.publish("crash.x", `m${i}`, { msgID: `id-${i}` });
      await nc.close();

      // Killed right after the acks: what was acknowledged must be on disk already.
      await nats.stop("SIGKILL");
      await nats.restart();

      const nc2 = await connect({ servers: nats.url });
      try {
        const jsm2 = await jetstreamManager(nc2);
        expect((await jsm2.streams.info("crash")).state.messages).toBe(3);
        expect((await jsm2.streams.getMessage("crash", { seq: 3 }))?.string()).toBe("m3");
        // The dedup window survives too, so a republish after the crash is absorbed.
        const republished = await jetstream(nc2).publish("crash.x", "m3", { msgID: "id-3" });
        expect(republished.duplicate).toBe(true);
      } finally {
        await nc2.close();
      }
    } finally {
      await nats.dispose();
    }
  });

  it("FerretDB keeps acknowledged documents", async () => {
    const ferret = await startFerretDb();
    try {
      const client = new MongoClient(ferret.url);
      await client
        .db("crash")
        .collection("docs")
        .insertMany([{ n: 1 }, { n: 2 }, { n: 3 }]);
      await client.close();

      await ferret.stop("SIGKILL");
      const port = ferret.port;
      await ferret.restart();
      expect(ferret.port).toBe(port);

      const again = new MongoClient(ferret.url);
      try {
        const docs = await again
          .db("crash")
          .collection("docs")
          .find({}, { projection: { _id: 0 } })
          .sort({ n: 1 })
          .toArray();
        expect(docs).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      } finally {
        await again.close();
      }
    } finally {
      await ferret.dispose();
    }
  });
});
