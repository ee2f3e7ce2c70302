/**
 * The HTTP `date` header value of the current second, one string shared by
 * every response of that second (Node's own cached value is not exported).
 */
let second = -1;
let value = "";

export function httpDate(nowMs: number = Date.now()): string {
  const s = Math.floor(nowMs / 1000);
  if (s !== second) {
    second = s;
    value = new Date(s * 1000).toUTCString();
  }
  return value;
}
