/**
 * The devices of each user that a live stream reaches right now: they get the
 * message live, so they get no push. The push decision depends only on this.
 * One call per push batch (users absent from the map have none).
 */
export type ReachableLive = (userIds: readonly string[]) => Promise<Map<string, readonly string[]>>;
