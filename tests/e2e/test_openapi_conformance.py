"""schemathesis, with every check it has, against the whole stack through the gateway.

It generates requests from /openapi.json (valid and invalid ones, unsupported methods,
sequences that follow the document's links) as a logged-in user, and fails on any answer
the document does not describe: an undeclared status, a body or header that does not match
its schema, a schema-valid request refused or an invalid one accepted, a 405 without `Allow`,
a 500. The number of examples is bounded so the run takes a few minutes on 2 shared cores.
"""

import os
import subprocess
import sys
from pathlib import Path

from accounts import new_account

from gateway.openapi import HTTP_METHODS

EXAMPLES_PER_OPERATION = 30
RUN_TIMEOUT_SECONDS = 900


def test_every_answer_is_the_one_the_openapi_document_declares(stack, gateway, tmp_path):
    account = new_account(gateway)
    document = gateway.get("/openapi.json").json()
    # The one operation left out: deleting the fuzzer's own account would log it out.
    delete_me = document["paths"]["/users/me"]["delete"]["operationId"]
    operations = sum(method in HTTP_METHODS for item in document["paths"].values() for method in item)

    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{stack.gateway_url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: {account.headers['Authorization']}",
            "--exclude-operation-id",
            delete_me,
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--workers",
            "2",
            "--no-color",
        ],
        # Its caches (.schemathesis, .hypothesis) go there, not into the work tree.
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": str(Path(__file__).parent)},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )

    summary = run.stdout[-30_000:]
    print(summary)  # the summary line (cases, failures) and the seed, shown with -s or on failure
    assert run.returncode == 0, summary
    assert f"Selected: {operations - 1}/{operations}" in run.stdout, "every operation but DELETE /users/me is tested"
    assert gateway.get("/users/me", headers=account.headers).status_code == 200
