from __future__ import annotations

from infra.tools.worker import FunctionMetadata
from tests.worker import app_worker


def app_functions() -> tuple[FunctionMetadata, ...]:
    """function_app's functions as the real worker indexed them: what the Functions host configures from."""
    return tuple(app_worker().functions)
