"""HMAC-SHA256 signatures over timestamp and raw body, for webhooks in and result callbacks out.

In: `X-Autoresolve-Timestamp: <unix seconds>` and `X-Autoresolve-Signature: v1=<hex>`, where
hex = HMAC-SHA256(WEBHOOK_SECRET, "v1:<timestamp>:" + raw body). The bot refuses timestamps more
than five minutes off, and a signature it has already seen.

Out (result callbacks): `X-Autoresolve-Signature: r1=<hex>`, hex = HMAC-SHA256(key, "r1:<timestamp>:"
+ raw body) with key = HMAC-SHA256(WEBHOOK_SECRET, "autoresolve result callback") as hex text. Another
tag and another key: a result the bot signed cannot be replayed into its own inbound webhooks.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Autoresolve-Timestamp"
SIGNATURE_HEADER = "X-Autoresolve-Signature"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"v1:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


RESULT_KEY_LABEL = b"autoresolve result callback"


def result_key(secret: str) -> str:
    """The key results are signed with, derived from WEBHOOK_SECRET (never the inbound key)."""
    return hmac.new(secret.encode(), RESULT_KEY_LABEL, hashlib.sha256).hexdigest()


def signed_result_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    stamp = str(timestamp)
    digest = hmac.new(result_key(secret).encode(), f"r1:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: f"r1={digest}"}


def matches(secret: str, timestamp: str, body: bytes, given: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode())
