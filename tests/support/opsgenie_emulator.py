"""Opsgenie's Alert API (and JSM's integration API, which takes the same calls), emulated
(tests/support/vendor_emulator.py): `POST /v2/alerts/{id}/close?identifierType=id` answers 202 with a
request id, as Opsgenie does (the close is processed there later), only with `GenieKey <key>`."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.vendor_emulator import Answer, VendorEmulator


class OpsgenieEmulator(VendorEmulator):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key

    def refusal_for(self, headers: dict[str, str]) -> Answer | None:
        if headers.get("authorization") != f"GenieKey {self.api_key}":
            return 401, {"message": "Could not authenticate", "took": 0.001, "requestId": str(uuid.uuid4())}
        return None

    def route(self, method: str, path: str, body: Any) -> Answer:
        url = urlsplit(path)
        parts = url.path.strip("/").split("/")
        query = parse_qs(url.query)
        if method == "POST" and parts[:2] == ["v2", "alerts"] and len(parts) == 4 and parts[3] == "close":
            if query.get("identifierType", ["id"]) != ["id"] or not isinstance(body, dict):
                return 422, {"message": "Request body is not processable", "took": 0.001}
            too_long = [
                k
                for k, limit in (("note", 25_000), ("user", 100), ("source", 100))
                if len(body.get(k, "")) > limit
            ]
            if too_long:
                return 422, {"message": f"{too_long[0]} is too long", "took": 0.001}
            return 202, {"result": "Request will be processed", "took": 0.02, "requestId": str(uuid.uuid4())}
        return 404, {"message": "Not found", "took": 0.001}
