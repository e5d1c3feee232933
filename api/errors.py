"""One error format for the whole API, ``/api`` and ``/v1`` alike.

Every refusal is JSON of the shape the OpenAI clients read::

    {"error": {"type": "invalid_request_error", "code": "unknown_field",
               "message": "…for a person…", "param": "body.colour"}}

``type`` is the broad kind (the OpenAI names), ``code`` the exact reason, ``message`` says
what to do, ``param`` names the field at fault when there is one. Validation errors add
``details``, one entry per field.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from workspace.selectors import ViewersCannot

logger = logging.getLogger(__name__)

# The broad kind of each status, as OpenAI's clients name them.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

# What a 401 answers in ``WWW-Authenticate`` (RFC 6750): the scheme to use.
BEARER_CHALLENGE = 'Bearer realm="roundtable"'


class ApiError(Exception):
    """A refusal with its status, reason and message; raised anywhere under the API."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.param, self.headers, self.extra = param, headers or {}, extra or {}


def error_body(
    status: int, code: str, message: str, *, param: str | None = None, **extra: Any
) -> dict[str, Any]:
    error = {
        "type": ERROR_TYPES.get(status, "server_error"),
        "code": code,
        "message": message,
        "param": param,
        **extra,
    }
    return {"error": error}


def error_response(exc: ApiError) -> JsonResponse:
    response = JsonResponse(
        error_body(exc.status, exc.code, exc.message, param=exc.param, **exc.extra),
        status=exc.status,
    )
    for name, value in exc.headers.items():
        response[name] = value
    return response


def _field_errors(errors: list[dict[str, Any]]) -> tuple[str, str | None, list[dict[str, Any]]]:
    """A message naming the first field at fault, that field, and every error in short."""
    details = []
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc[:2] == ["body", "payload"]:  # every endpoint's body parameter: not the client's
            del loc[1]
        where = ".".join(str(part) for part in loc)
        if error.get("type") == "extra_forbidden":
            message = "Unknown field: this endpoint takes no such field."
        else:
            message = str(error.get("msg", "Invalid value."))
        details.append({"param": where, "code": error.get("type", "invalid"), "message": message})
    if not details:
        return "The request is not valid.", None, []
    first = details[0]
    return f"{first['param']}: {first['message']}", first["param"], details


def validation_error_response(errors: list[dict[str, Any]]) -> JsonResponse:
    message, param, details = _field_errors(errors)
    code = "unknown_field" if details and details[0]["code"] == "extra_forbidden" else "invalid"
    return error_response(ApiError(400, code, message, param=param, extra={"details": details}))


def exception_handlers_install(api: NinjaAPI) -> None:
    """Every failure an endpoint can meet, answered in the one format."""

    def on_api_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(exc)

    def on_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        return validation_error_response(list(exc.errors))

    def on_django_validation(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(ApiError(400, "invalid", " ".join(exc.messages)))

    def on_not_found(request: HttpRequest, exc: Any) -> HttpResponse:
        message = str(exc) or "Not found."
        return error_response(ApiError(404, "not_found", message))

    def on_forbidden(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(ApiError(403, "forbidden", str(exc) or "Not allowed."))

    def on_viewer(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(ApiError(403, "viewer", str(exc)))

    def on_unauthenticated(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(
            ApiError(
                401,
                "invalid_token",
                "Send a valid API token: `Authorization: Bearer rt_…` (make one on your "
                "API tokens page). A revoked token no longer works.",
                headers={"WWW-Authenticate": BEARER_CHALLENGE},
            )
        )

    def on_http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        if isinstance(exc.__cause__, ApiError):  # ninja wraps the body parser's refusal
            return error_response(exc.__cause__)
        return error_response(ApiError(exc.status_code, "http_error", str(exc)))

    def on_too_large(request: HttpRequest, exc: Any) -> HttpResponse:
        """Django's own limits on a request (DATA_UPLOAD_MAX_MEMORY_SIZE and the like),
        met while the body is parsed: the client's fault, not the server's."""
        return error_response(
            ApiError(413, "body_too_large", "The request is too large for the server to read.")
        )

    def on_unexpected(request: HttpRequest, exc: Any) -> HttpResponse:
        logger.exception("API request failed: %s %s", request.method, request.path)
        response = JsonResponse(
            error_body(500, "server_error", "Something went wrong on the server; try again."),
            status=500,
        )
        return response

    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(NinjaValidationError, on_validation)
    api.add_exception_handler(DjangoValidationError, on_django_validation)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(PermissionDenied, on_forbidden)
    api.add_exception_handler(ViewersCannot, on_viewer)
    api.add_exception_handler(AuthenticationError, on_unauthenticated)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(RequestDataTooBig, on_too_large)
    api.add_exception_handler(Exception, on_unexpected)
