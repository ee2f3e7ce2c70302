import { create } from "@bufbuild/protobuf";
import { validateMessage } from "../src/conversations/validate-body.js";
import { MessageElementSchema } from "../src/gen/im/v1/elements_pb.js";
import { createKeywordMatcher, type KeywordRule } from "../src/moderation/keyword-matcher.js";
import { moderateContent } from "../src/moderation/moderate-content.js";

/**
 * Keyword moderation cost per message (`npm run -s bench -- keywords`): the
 * same messages checked against no keywords and against 10,000, in one run,
 * beside the message validation every send already does, so the figure is a
 * ratio to work the server does anyway. Pure CPU: no server, no store.
 */
const KEYWORDS = 10_000;
const MESSAGES = 2_000;
const ROUNDS = 20;

/** Deterministic pseudo-random numbers (mulberry32), so runs compare. */
let seed = 12345;
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
};
const LATIN = "abcdefghijklmnopqrstuvwxyz";
const CJK =
  "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经";
const word = (alphabet: string, min: number, max: number) => {
  const len = min + Math.floor(random() * (max - min + 1));
  let w = "";
  for (let i = 0; i < len; i++) w += alphabet[Math.floor(random() * alphabet.length)];
  return w;
};

const rules: KeywordRule[] = Array.from({ length: KEYWORDS }, (_, i) => ({
  keyword: i % 2 === 0 ? word(LATIN, 5, 10) : word(CJK, 3, 5),
  action: i % 10 === 0 ? "reject" : "replace",
}));
/**
 * Chat-sized texts: 20-300 characters of words, half Latin, half CJK; one
 * message in 20 carries a keyword of the list.
 */
const messages = Array.from({ length: MESSAGES }, (_, i) => {
  const parts: string[] = [];
  const target = 20 + Math.floor(random() * 280);
  let len = 0;
  while (len < target) {
    const w = i % 2 === 0 ? word(LATIN, 2, 9) : word(CJK, 1, 4);
    parts.push(w);
    len += w.length + 1;
  }
  if (i % 20 === 0) parts.splice(parts.length >> 1, 0, rules[i % KEYWORDS]?.keyword ?? "");
  return {
    body: [
      create(MessageElementSchema, { element: { case: "text", value: { text: parts.join(" ") } } }),
    ],
    cloudCustomData: "",
  };
});

function textOf(m: (typeof messages)[number]): string {
  const e = m.body[0]?.element;
  return e?.case === "text" ? e.value.text : "";
}

function timePerMessageUs(run: (m: (typeof messages)[number]) => void): number {
  const start = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++) for (const m of messages) run(m);
  return Number(process.hrtime.bigint() - start) / 1000 / (ROUNDS * MESSAGES);
}

export function runKeywords(): void {
  const buildStart = process.hrtime.bigint();
  const full = createKeywordMatcher(rules);
  const buildMs = Number(process.hrtime.bigint() - buildStart) / 1e6;
  const empty = createKeywordMatcher([]);
  const limits = { maxMessageBytes: 12 * 1024, maxPushInfoBytes: 3 * 1024 };
  let rejected = 0;
  let masked = 0;
  const moderate = (matcher: typeof full) => (m: (typeof messages)[number]) => {
    try {
      if (moderateContent(matcher, m) !== m) masked++;
    } catch {
      rejected++;
    }
  };
  // Warm-up of every path, then measured rounds, alternated so drift hits both.
  for (const f of [
    moderate(empty),
    moderate(full),
    (m: (typeof messages)[number]) => validateMessage(m, limits),
  ]) {
    timePerMessageUs(f);
  }
  /** The floor: reading every code unit of the text once. */
  let sink = 0;
  const readText = (m: (typeof messages)[number]) => {
    const t = textOf(m);
    for (let i = 0; i < t.length; i++) sink += t.charCodeAt(i);
  };
  timePerMessageUs(readText);
  const samples = {
    none: [] as number[],
    full: [] as number[],
    validate: [] as number[],
    read: [] as number[],
  };
  for (let i = 0; i < 3; i++) {
    samples.none.push(timePerMessageUs(moderate(empty)));
    rejected = 0;
    masked = 0;
    samples.full.push(timePerMessageUs(moderate(full)));
    samples.validate.push(timePerMessageUs((m) => validateMessage(m, limits)));
    samples.read.push(timePerMessageUs(readText));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1] as number;
  const result = {
    scenario: "keywords",
    keywords: full.size,
    messages: MESSAGES,
    avgChars: Math.round(messages.reduce((s, m) => s + textOf(m).length, 0) / MESSAGES),
    buildMs: Math.round(buildMs),
    usPerMessageNoKeywords: Number(median(samples.none).toFixed(3)),
    usPerMessage10kKeywords: Number(median(samples.full).toFixed(3)),
    usPerMessageValidate: Number(median(samples.validate).toFixed(3)),
    usPerMessageReadText: Number(median(samples.read).toFixed(3)),
    maskedPerRound: Math.round(masked / ROUNDS),
    rejectedPerRound: Math.round(rejected / ROUNDS),
    heapMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    checksum: sink % 7,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.stderr.write(
    `keywords: ${result.keywords} keywords built in ${result.buildMs} ms; per message (avg ${result.avgChars} chars): ` +
      `${result.usPerMessageNoKeywords} µs with none, ${result.usPerMessage10kKeywords} µs with ${result.keywords}, ` +
      `validation ${result.usPerMessageValidate} µs, reading the text once ${result.usPerMessageReadText} µs; ${result.maskedPerRound} masked and ${result.rejectedPerRound} rejected of ${MESSAGES}\n`,
  );
}
