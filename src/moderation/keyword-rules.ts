import type { KeywordAction, KeywordRule } from "./keyword-matcher.js";

/** A line of the keyword file that is not a rule; the message names the line. */
export class KeywordFileError extends Error {
  constructor(line: number, message: string) {
    super(`keyword file line ${line}: ${message}`);
    this.name = "KeywordFileError";
  }
}

const ACTIONS: readonly KeywordAction[] = ["replace", "reject"];

/**
 * Parses the keyword file (README "Keyword moderation"): one rule per line,
 * `replace <keyword>` or `reject <keyword>`; the keyword is the rest of the
 * line, trimmed, and may contain spaces. Blank lines and lines starting with
 * `#` are skipped.
 */
export function parseKeywordRules(text: string): KeywordRule[] {
  const rules: KeywordRule[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const space = line.search(/\s/);
    const action = (space === -1 ? line : line.slice(0, space)) as KeywordAction;
    if (!ACTIONS.includes(action)) {
      throw new KeywordFileError(i + 1, `starts with "${action}"; expected replace or reject`);
    }
    const keyword = space === -1 ? "" : line.slice(space).trim();
    if (keyword === "") throw new KeywordFileError(i + 1, "no keyword after the action");
    rules.push({ keyword, action });
  });
  return rules;
}
