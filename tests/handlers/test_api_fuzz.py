"""The HTTP API against generated input (schemathesis): whatever arrives, valid by the OpenAPI document
or not, no operation in it answers 5xx, and each answer has a status, type and shape it lists.

Derandomized, so a run is repeatable; a failure prints the request that caused it.
"""

from __future__ import annotations

import itertools

import schemathesis
from hypothesis import given, settings
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.handlers.test_rest_api import SIMPLE
from tests.support.servers import ServedApp

TOKEN = "fuzz-token"


def takes_input(operation: APIOperation) -> bool:
    return any((operation.path_parameters, operation.query, operation.body))


CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_no_input_makes_an_operation_fail_or_answer_off_the_document(served):
    app: ServedApp = served(SIMPLE, api_token=TOKEN, webhook_token=TOKEN)
    schema = schemathesis.openapi.from_url(f"{app.base_url}/openapi.json")
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) >= 14  # the document describes every operation validly

    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not takes_input(operation):
            continue  # nothing to get wrong (GET /health, /metrics)

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=30, derandomize=True, deadline=None, database=None)
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

        answers_as_documented()
