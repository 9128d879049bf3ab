"""PagerDuty's REST API, emulated (tests/support/vendor_emulator.py): `POST /incidents/{id}/notes`
201, `PUT /incidents/{id}` 200, `GET /users/{id}` 200 for the users it is given (else 404), each only
with the headers PagerDuty requires (the token, `From`, the version 2 Accept)."""

from __future__ import annotations

from typing import Any

from tests.support.vendor_emulator import Answer, VendorEmulator


class PagerDutyEmulator(VendorEmulator):
    def __init__(self, token: str, users: dict[str, str] | None = None) -> None:
        super().__init__()
        self.token = token
        self.users = users or {}  # id -> e-mail

    def refusal_for(self, headers: dict[str, str]) -> Answer | None:
        if headers.get("authorization") != f"Token token={self.token}":
            return 401, {"error": {"message": "Unauthorized", "code": 2006}}
        if not headers.get("from") or "version=2" not in headers.get("accept", ""):
            return 400, {"error": {"message": "Invalid Input Provided", "code": 2001}}
        return None

    def route(self, method: str, path: str, body: Any) -> Answer:
        parts = path.split("?")[0].strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "incidents" and parts[2] == "notes":
            return 201, {"note": {"id": "PWL7QXS", **(body or {}).get("note", {})}}
        if method == "PUT" and len(parts) == 2 and parts[0] == "incidents":
            return 200, {"incident": {"id": parts[1], "status": "resolved"}}
        if method == "GET" and len(parts) == 2 and parts[0] == "users" and parts[1] in self.users:
            user = {"id": parts[1], "type": "user", "name": "Tenex Engineer", "email": self.users[parts[1]]}
            return 200, {"user": user}
        return 404, {"error": {"message": "Not Found", "code": 2100}}
