/** NATS subject rules, shared so the in-process adapter accepts exactly what NATS does. */

const TOKEN = /^[^\s.*>]+$/;

/** A subject with no wildcards: what publish, publishLive and subscribeLive accept. */
export function assertLiteralSubject(subject: string): void {
  if (!subject.split(".").every((t) => TOKEN.test(t))) {
    throw new Error(`invalid subject "${subject}": expected dot-separated tokens, no wildcards`);
  }
}

/** NATS matching: `*` matches one token, a final `>` matches one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === ">") return i === p.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (token !== "*" && token !== s[i]) return false;
  }
  return p.length === s.length;
}
