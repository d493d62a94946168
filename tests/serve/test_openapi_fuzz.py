"""The published OpenAPI schema, fuzzed with schemathesis against the running server: never a 5xx.

A bounded number of examples per operation keeps this well under a minute; every answer must be a
success or a problem document (4xx), never a server error or a traceback.
"""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from serve_checks import Api

MAX_EXAMPLES = 8


def test_no_operation_answers_with_a_server_error(serve_server):
    fuzzer = Api(serve_server, *serve_server.create_user("fuzz"))  # its own user: touches nobody else's data
    headers = {"Authorization": f"Bearer {fuzzer.token}"}
    spec = httpx.get(f"{serve_server.url}/openapi.json", headers=headers, timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec)
    seen: dict[str, set[int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18

    for op, mode in [(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case) -> None:
            response = case.call(base_url=serve_server.url, headers=headers, timeout=60)
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                response.text[:500])
            if response.status_code >= 400:
                ctype = [v for k, v in response.headers.items() if k.lower() == "content-type"][0]
                ctype = ctype[0] if isinstance(ctype, list) else ctype
                assert ctype.startswith("application/problem+json"), response.text[:200]
                assert {"type", "title", "status", "detail"} <= set(response.json())
                assert "Traceback" not in response.text

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid form
    assert len(seen) == len(operations)
