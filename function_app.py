"""Where Azure calls in: the function app and its Blueprints, nothing else. Each service brings its HTTP
API and its relay and projector; the operators' routes span every service."""

from __future__ import annotations

import azure.functions as func

from infra.entry import openapi, operations_api
from infra.entry.services import SERVICES
from infra.entry.triggers import trigger_blueprint

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(operations_api.blueprint)
app.register_functions(openapi.blueprint)
for service in SERVICES:
    if service.http is not None:
        app.register_functions(service.http)
    app.register_functions(trigger_blueprint(service))
