import { describe, expect, it } from "vitest";
import { httpDate } from "./http-date.js";

describe("httpDate", () => {
  it("is the second's IMF-fixdate, one string for the whole second", () => {
    const a = httpDate(Date.UTC(2026, 11, 2, 16, 5, 51, 10));
    expect(a).toBe("Wed, 02 Dec 2026 16:05:51 GMT");
    expect(httpDate(Date.UTC(2026, 11, 2, 16, 5, 51, 990))).toBe(a);
    expect(httpDate(Date.UTC(2026, 11, 2, 16, 5, 52, 0))).toBe("Wed, 02 Dec 2026 16:05:52 GMT");
  });
});
