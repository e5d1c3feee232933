"""The two APIs and how they are served: the workspace API under ``/api/`` and the
OpenAI-compatible one under ``/v1/``, each with its OpenAPI schema and browsable docs.

Built on django-ninja: its schemas are pydantic models, so validation, the refusal of unknown
fields and the OpenAPI document come from one declaration per endpoint; it runs async views
next to sync ones on Django's own request handling (middleware, sessions, daphne), which the
streaming endpoints need; and it is small, typed and actively maintained. Django REST
framework was the other candidate: heavier, serializers separate from type hints, and no
async views.
"""

import json
from typing import Any

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.parser import Parser

from .auth import TokenAuth
from .endpoints import router as workspace_router
from .errors import ApiError, exception_handlers_install
from .knowledge_endpoints import router as knowledge_router
from .streaming import router as streaming_router


class JsonBodyParser(Parser):
    """JSON bodies only, and a clear refusal of anything else."""

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError) as exc:
            raise ApiError(
                400, "invalid_json", f"The request body is not valid JSON ({exc})."[:300]
            ) from exc
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
        return data


api = NinjaAPI(
    title="Roundtable API",
    version="1",
    description=(
        "The workspace over HTTP for scripts and tools. Authenticate with a personal token "
        "from your API tokens page: `Authorization: Bearer rt_…`. Errors are "
        '`{"error": {"type", "code", "message", "param"}}`.'
    ),
    auth=TokenAuth(),
    parser=JsonBodyParser(),
    urls_namespace="api",
)
api.add_router("/", workspace_router)
api.add_router("/", streaming_router)
api.add_router("/", knowledge_router)
exception_handlers_install(api)
