import { type FSWatcher, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Logger } from "../log/logger.js";
import { createKeywordMatcher, type KeywordMatcher } from "./keyword-matcher.js";
import { parseKeywordRules } from "./keyword-rules.js";
import { type ModeratedContent, moderateContent } from "./moderate-content.js";

/** Keyword moderation of message content, with a keyword list that can change at run time. */
export interface KeywordFilter {
  /** The content with `replace` keywords masked; throws KEYWORD_REJECTED for a `reject` keyword. */
  moderate<C extends ModeratedContent>(content: C): C;
  /**
   * Reads the file again. A file that cannot be read or parsed keeps the
   * previous list (logged): a typo in an edit must not switch moderation off.
   * Resolves true when the new list is in force.
   */
  reload(): Promise<boolean>;
  /** Keywords in force. */
  size(): number;
  close(): void;
}

/** Editors write a file in several steps; one reload once they are done. */
const WATCH_DEBOUNCE_MS = 100;

/**
 * Loads the keyword file at `path` (start-up fails on a bad file) and reloads
 * it on `reload()` (SIGHUP) and when the file changes. The directory is
 * watched, not the file, so a replace-by-rename (editors, ConfigMap updates)
 * is seen too.
 */
export async function openKeywordFilter(deps: {
  path: string;
  logger: Logger;
  /** Watch the file for changes (default true). */
  watch?: boolean;
}): Promise<KeywordFilter> {
  const { path } = deps;
  const logger = deps.logger.child({ component: "keywords" });
  const load = async (): Promise<KeywordMatcher> =>
    createKeywordMatcher(parseKeywordRules(await readFile(path, "utf8")));

  let matcher = await load();
  logger.info("keyword list loaded", { path, keywords: matcher.size });

  const reload = async (): Promise<boolean> => {
    try {
      matcher = await load();
      logger.info("keyword list reloaded", { path, keywords: matcher.size });
      return true;
    } catch (err) {
      logger.error("keyword list not reloaded; the previous one stays in force", { path, err });
      return false;
    }
  };

  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  if (deps.watch ?? true) {
    const name = basename(path);
    watcher = watch(dirname(path), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), WATCH_DEBOUNCE_MS);
    });
    watcher.on("error", (err) => logger.warn("keyword file watch failed", { path, err }));
    watcher.unref();
  }

  return {
    moderate: (content) => moderateContent(matcher, content),
    reload,
    size: () => matcher.size,
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
