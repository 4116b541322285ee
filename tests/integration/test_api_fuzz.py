"""A property-based run against /openapi.json (schemathesis): no answer is a server error.

Every operation of the document is called with generated parameters and
bodies, signed in as an officer (so the calls reach the operations, not only
the sign-in), against a real uvicorn server over a real store. Bounded: a few
examples per operation, so the run takes seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from jejak.lineage.api import ApiServer
from jejak.lineage.policy import load_policies
from jejak.lineage.store import connect, migrate
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.trust.note import Signer
from jejak.lineage.workspace import auth
from jejak.lineage.workspace.operations import Workspace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(
    clickhouse_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiServer, str]]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    store = connect(clickhouse_dsn, database)
    migrate(store)
    signer = Signer.generate(f"jejak-{database}")
    folder: Path = tmp_path_factory.mktemp("checkpoints")
    checkpointer = Checkpointer(store, signer, signer.name, folder)
    token = auth.create_token(
        store, "fuzz-officer", "officer", by="test", checkpointer=checkpointer
    )
    workspace = Workspace(store, load_policies(), checkpointer=checkpointer)
    server = ApiServer(workspace, "127.0.0.1", 0).start()
    yield server, token
    server.stop()
    store.close()


def test_no_server_errors(served: tuple[ApiServer, str]) -> None:
    server, token = served
    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 20  # every route, /healthz included

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            if case.path_parameters and case.path_parameters.get("name") == "fuzz-officer":
                return  # revoking its own token would end the run's sign-in
            response = case.call(headers={"Authorization": f"Bearer {token}"})
            case.validate_response(response, checks=[not_a_server_error])

        run()
