import type { Db } from "mongodb";

/**
 * What the connected server does that the adapter may rely on, found once at
 * connect. FerretDB v1 is the one server we know that differs: it applies an
 * update as read-then-write outside a transaction, so two concurrent updates
 * of one document can lose one (two `$inc`s return the same value).
 */
export interface MongoCapabilities {
  /** Single-document updates are atomic (MongoDB: yes; FerretDB v1: no). */
  atomicUpdates: boolean;
  /**
   * `{_id: {$in: [...]}}` is answered from the _id index (MongoDB: yes;
   * FerretDB v1 serves only an exact `{_id: <value>}` filter from an index).
   */
  indexedIdIn: boolean;
  /**
   * `{_id: <value>, field: <value>, ...}` is answered from the _id index
   * (MongoDB: yes; FerretDB v1: only an exact `{_id}` filter uses an index).
   * With it the adapter adds the shard-key fields a document's `_id` is made
   * of to its writes (`shardKeyFilter`), as a sharded cluster needs.
   */
  indexedIdWithFields: boolean;
  /**
   * An `update` command with many statements (bulkWrite of updateOnes) runs in
   * about the time of its statements (MongoDB: yes; FerretDB v1: no, measured
   * here: 200 `$inc` upserts in one bulkWrite took over 2 minutes, against
   * 3.3 s as 200 concurrent findOneAndUpdates). Without it the adapter sends
   * updates one command each, concurrently.
   */
  bulkUpdates: boolean;
  /**
   * An update finds its document from the _id index whatever the collection's size
   * (MongoDB: yes; FerretDB v1: it scans the collection's table even for an exact
   * `{_id}`, measured ~8 ms of its CPU per `$inc` at 5,000 documents). Without it the
   * adapter spreads documents updated on a hot path over several small collections.
   */
  indexedUpdates: boolean;
  /** For logs: "mongodb" or "ferretdb". */
  server: "mongodb" | "ferretdb";
}

/** MongoDB semantics: what the ports promise and the in-memory adapter gives. */
export const mongoDbCapabilities: MongoCapabilities = {
  atomicUpdates: true,
  indexedIdIn: true,
  indexedIdWithFields: true,
  bulkUpdates: true,
  indexedUpdates: true,
  server: "mongodb",
};

/** Asks the server who it is: FerretDB answers buildInfo with a `ferretdbVersion`. */
export async function detectCapabilities(db: Db): Promise<MongoCapabilities> {
  const info = await db.admin().command({ buildInfo: 1 });
  if ("ferretdbVersion" in info) {
    return {
      atomicUpdates: false,
      indexedIdIn: false,
      indexedIdWithFields: false,
      bulkUpdates: false,
      indexedUpdates: false,
      server: "ferretdb",
    };
  }
  return mongoDbCapabilities;
}
