import type { LiveHub } from "../live/live-hub.js";

/**
 * The devices of a user that a live stream reaches right now: they get the
 * message live, so they get no push. The push decision depends only on this.
 *
 * For the lead: wire this to presence (which devices are online, on any node;
 * PushOnline). The implementation below sees only this node's streams, which
 * is exact on one node and over-pushes on several.
 */
export type ReachableLive = (userId: string) => Promise<readonly string[]>;

/** This node's view: the devices with a stream open here. */
export const reachableOnThisNode =
  (hub: Pick<LiveHub, "devicesOnThisNode">): ReachableLive =>
  async (userId) =>
    hub.devicesOnThisNode(userId);
