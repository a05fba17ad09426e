"""`cardseg serve` against its own OpenAPI document (GET /openapi.json).

The real release binary (CARDSEG_BIN) serves a small model on 127.0.0.1; schemathesis reads
the document from the running server and, for every route, generates requests from it
(valid and invalid bodies, headers and content types, property-based with a fixed seed) and
checks that every answer is one the document describes: never a 5xx, a documented status,
the documented content type and headers (X-Request-Id), and a body that matches the
documented schema.

The document is the same for every model (a customer's keys are the model's feature names,
listed by GET /v1/model, and other keys are ignored by design), so schemathesis's
"positive data is accepted" and "negative data is rejected" checks do not apply: a
schema-valid customer can still hold a non-numeric feature value (400, documented), and a
customer with an extra key is valid for the server. The checks below are those of the
answers.
"""
import os
import subprocess
import threading

import pytest

from conftest import REQUIRED

try:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )
except ImportError as e:  # pragma: no cover - the CI venv has it (scripts/requirements.txt)
    if REQUIRED:
        raise
    pytest.skip(f"schemathesis is not installed ({e})", allow_module_level=True)

TOKEN = "contract-test-token"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schemathesis.serializer("text/csv")
def _csv(ctx, value):
    """CSV bodies are text; a generated non-string is sent as its text."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def server(cardseg_bin, run_cardseg, tmp_path_factory):
    d = tmp_path_factory.mktemp("contract")
    run_cardseg("generate", "--rows", "600", "--seed", "3", "--out", d / "c.csv", "--quiet")
    run_cardseg(
        "run", "--input", d / "c.csv", "--out", d / "m", "--no-dashboard", "--n-init", "1",
        "--k", "3", "--stability-resamples", "0", "--quiet",
    )
    tokens = d / "tokens"
    tokens.write_text(TOKEN + "\n")
    os.chmod(tokens, 0o600)
    proc = subprocess.Popen(
        [cardseg_bin, "serve", "--model", str(d / "m" / "model.json"), "--addr", "127.0.0.1:0",
         "--token-file", str(tokens), "--max-body", "1M", "--drain-seconds", "0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # The access log is long: drain stderr so the server never blocks on a full pipe.
    log = []
    threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()
    line = proc.stdout.readline()  # the readiness line: "listening on http://IP:PORT"
    assert line.startswith("listening on http://"), (line, "".join(log))
    url = line.split("listening on ", 1)[1].strip()
    yield url
    proc.terminate()
    assert proc.wait(timeout=30) == 0, "".join(log[-20:])
    # Every answer was logged as JSON with its request id.
    assert any('"request_id"' in entry for entry in log)


def test_every_answer_is_documented(server):
    # The schema is read from the running server. (schemathesis's pytest loader,
    # `from_fixture`, relies on a pytest internal that pytest 9 no longer has, so each
    # operation's Hypothesis strategy is driven here with `given`.)
    api = schemathesis.openapi.from_url(server + "/openapi.json")
    operations = [r.ok() for r in api.get_all_operations()]
    # Every route of the document but /openapi.json itself, which schemathesis leaves out
    # as the schema's own address (the Rust tests call it).
    documented = {f"{m.upper()} {p}" for p, item in api.raw_schema["paths"].items() for m in item}
    labels = {f"{o.method.upper()} {o.path}" for o in operations}
    assert labels == documented - {"GET /openapi.json"}, (labels, documented)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    seen = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=25,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case):
                response = case.call_and_validate(
                    base_url=server, headers=headers, checks=CHECKS, timeout=30
                )
                key = f"{operation.method.upper()} {operation.path}"
                seen.setdefault(key, set()).add(response.status_code)

            try:
                check()
            except Unsatisfiable:
                # Nothing of this operation can be made invalid (a GET whose only input is
                # an optional string header): there is no negative case to send.
                assert mode == GenerationMode.NEGATIVE, operation.label
    # Every route was called, and the scoring route both scored and refused.
    assert set(seen) == labels, seen
    assert 200 in seen["POST /v1/score"] and seen["POST /v1/score"] - {200}, seen
