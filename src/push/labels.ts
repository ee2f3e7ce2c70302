/** Tags and attributes administrators put on users to pick a broadcast's audience. */
export interface UserLabels {
  /** Distinct, sorted. */
  tags: string[];
  attributes: Record<string, string>;
}

/** Who a broadcast goes to. */
export type AudienceFilter =
  | { kind: "all" }
  | { kind: "tags"; tags: readonly string[]; matchAll: boolean }
  | { kind: "attributes"; attributes: Readonly<Record<string, string>> };

export const noLabels = (): UserLabels => ({ tags: [], attributes: {} });

/** Whether a user with these labels is in the audience (the memory adapter's query; Mongo's mirrors it). */
export function labelsMatch(labels: UserLabels, filter: AudienceFilter): boolean {
  switch (filter.kind) {
    case "all":
      return true;
    case "tags": {
      const has = (t: string) => labels.tags.includes(t);
      return filter.matchAll ? filter.tags.every(has) : filter.tags.some(has);
    }
    case "attributes":
      return Object.entries(filter.attributes).every(([k, v]) => labels.attributes[k] === v);
  }
}
