from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from infra.tools.worker import FunctionMetadata
from tests.wire import server as wire_server
from tests.wire.fixtures import wire_database
from tests.worker import app_worker

if TYPE_CHECKING:
    from azure.cosmos import DatabaseProxy


def app_functions() -> tuple[FunctionMetadata, ...]:
    """function_app's functions as the real worker indexed them: what the Functions host configures from."""
    return tuple(app_worker().functions)


@pytest.fixture(scope="session")
def cosmos_wire_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint of the Cosmos-protocol server (tests/wire), started once per session."""
    reason = wire_server.unavailable()
    if reason is not None:
        pytest.skip(reason)
    with wire_server.running(tmp_path_factory.mktemp("cosmos-wire") / "server.log") as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def cosmos_wire(cosmos_wire_endpoint: str) -> Iterator[DatabaseProxy]:
    """A database of its own on the Cosmos-protocol server, for the session."""
    with wire_database(cosmos_wire_endpoint, wire_server.KEY) as database:
        yield database
