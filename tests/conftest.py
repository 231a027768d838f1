from __future__ import annotations

from functools import cache

from azure.functions.decorators.function_app import Function

import function_app


@cache
def app_functions() -> tuple[Function, ...]:
    """function_app's functions; FunctionApp.get_functions() refuses to index the same app twice."""
    return tuple(function_app.app.get_functions())
