"""On whose behalf the engine acts: a face that acts for a named person (the REST API's `actor`)
says so around its engine calls, and every audit row written meanwhile records it as on_behalf_of."""

from __future__ import annotations

from storage.audit import acting_for

__all__ = ["acting_for"]
