import { describe, expect, it } from "vitest";
import { createKeywordMatcher, type KeywordRule, maskRanges } from "./keyword-matcher.js";
import { KeywordFileError, parseKeywordRules } from "./keyword-rules.js";

const replace = (...keywords: string[]): KeywordRule[] =>
  keywords.map((keyword) => ({ keyword, action: "replace" }));
const mask = (rules: KeywordRule[], text: string) => {
  const found = createKeywordMatcher(rules).scan(text);
  return { reject: found.reject, text: maskRanges(text, found.replace) };
};

describe("keyword matcher", () => {
  it("masks every occurrence, overlapping and nested keywords, ASCII case-insensitively", () => {
    const rules = replace("he", "she", "his", "hers");
    expect(mask(rules, "ushers and HIS shoe").text).toBe("u***** and *** shoe");
    expect(mask(replace("abcd", "bc"), "xabcdx abx bcd").text).toBe("x****x abx **d");
    expect(mask(replace("aa"), "aaa").text).toBe("***");
  });

  it("matches other scripts as written, one star per character (surrogate pairs too)", () => {
    expect(mask(replace("坏人", "😀x"), "他是坏人😀x!").text).toBe("他是****!");
    expect(mask(replace("É"), "é É").text).toBe("é *");
  });

  it("reports a reject keyword anywhere, also when it is a suffix of a longer match", () => {
    const rules: KeywordRule[] = [
      { keyword: "spam", action: "reject" },
      { keyword: "xspamy", action: "replace" },
    ];
    expect(mask(rules, "clean text").reject).toBe(false);
    expect(mask(rules, "a xspamz").reject).toBe(true);
    expect(mask(rules, "SPAM").reject).toBe(true);
  });

  it("finds keywords in a list of 10,000 that share prefixes", () => {
    const rules = replace(...Array.from({ length: 10_000 }, (_, i) => `w${i}x`));
    const matcher = createKeywordMatcher(rules);
    expect(matcher.size).toBe(10_000);
    expect(
      maskRanges("w1 w12x w9999x w10000x", matcher.scan("w1 w12x w9999x w10000x").replace),
    ).toBe("w1 **** ****** w10000x");
  });

  it("an empty list matches nothing", () => {
    expect(createKeywordMatcher([]).scan("anything")).toEqual({ reject: false, replace: [] });
  });
});

describe("keyword file", () => {
  it("parses replace and reject lines, skipping comments and blank lines", () => {
    expect(parseKeywordRules("# list\n\nreplace bad word\r\nreject  spam \n")).toEqual([
      { keyword: "bad word", action: "replace" },
      { keyword: "spam", action: "reject" },
    ]);
  });

  it("refuses an unknown action or a missing keyword, naming the line", () => {
    expect(() => parseKeywordRules("replace a\nblock b")).toThrow(KeywordFileError);
    expect(() => parseKeywordRules("replace a\nblock b")).toThrow(/line 2/);
    expect(() => parseKeywordRules("reject")).toThrow(/line 1: no keyword/);
  });
});
