import { UserStatus, type UserStatusInfo } from "../gen/im/v1/events_pb.js";

/**
 * The devices of a user that a live stream reaches right now: they get the
 * message live, so they get no push. The push decision depends only on this.
 */
export type ReachableLive = (userId: string) => Promise<readonly string[]>;

/** Cluster-wide: the user's devices presence sees Online, on any node. */
export const reachableViaPresence =
  (presence: {
    statuses(
      userIds: readonly string[],
      withDevices: (userId: string) => boolean,
    ): Promise<UserStatusInfo[]>;
  }): ReachableLive =>
  async (userId) => {
    const [status] = await presence.statuses([userId], () => true);
    return (status?.devices ?? [])
      .filter((d) => d.status === UserStatus.ONLINE)
      .map((d) => d.deviceId);
  };
