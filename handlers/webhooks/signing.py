"""HMAC-SHA256 signatures over timestamp and raw body, for webhooks in and result callbacks out.

Headers: `X-Autoresolve-Timestamp: <unix seconds>` and `X-Autoresolve-Signature: v1=<hex>`, where
hex = HMAC-SHA256(secret, "v1:<timestamp>:" + raw body). The receiver refuses timestamps more than
five minutes off, and a signature it has already seen.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Autoresolve-Timestamp"
SIGNATURE_HEADER = "X-Autoresolve-Signature"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"v1:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    stamp = str(timestamp)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, body)}


def matches(secret: str, timestamp: str, body: bytes, given: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode())
