# Verifying a webhook request (signature scheme 2) in Python, standard library only.
import hashlib, hmac, time

WINDOW_MS = 5 * 60_000
seen = {}  # event id -> when seen; a re-sent request within the window is refused

def verify(secret: bytes, raw_body: bytes, headers, now_ms=None) -> bool:
    """headers: any case-insensitive mapping (Flask/Django/Starlette request.headers)."""
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    ts = headers.get("X-IM-Timestamp", "")
    event_id = headers.get("X-IM-Event-Id", "")
    if headers.get("X-IM-Signature-Version") != "2":
        return False
    if not ts.isdigit() or abs(now_ms - int(ts)) > WINDOW_MS:
        return False
    signed = f"{ts}.{headers.get('X-IM-Command', '')}.{event_id}.".encode() + raw_body
    expected = hmac.new(secret, signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, headers.get("X-IM-Signature", "").lower()):
        return False
    for old in [i for i, at in seen.items() if now_ms - at > 2 * WINDOW_MS]:
        del seen[old]
    if event_id in seen:
        return False
    seen[event_id] = now_ms
    return True

# Flask: verify(SECRET, request.get_data(), request.headers) -> False: answer 401
