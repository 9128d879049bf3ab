"""The baseline for figure 1: bare FastAPI + uvicorn that only validates the same pydantic model."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Response

from engine.incident import IncidentIn  # run from the repository root (as `make bench` does)

app = FastAPI()


@app.post("/webhooks/incidents", status_code=202)
async def accept(incident: IncidentIn) -> Response:
    return Response(status_code=202)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
