"""Refusing replays: a signed request (or a delivery id) is taken once, then remembered for as long
as its signature could still pass the time check, so a captured copy sent again is refused."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from storage import seen_signatures
from storage.fields import utcnow


def first_use(source: str, credential: str, *, remember_for: timedelta) -> bool:
    """Record that `credential` (a signature, a delivery id) from `source` was taken; False if it
    was taken before. Only a digest is kept, namespaced by source."""
    digest = hashlib.sha256(credential.encode()).hexdigest()
    return seen_signatures.remember(signature=f"{source}:{digest}"[:128], expires_at=utcnow() + remember_for)
