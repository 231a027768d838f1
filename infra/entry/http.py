"""HTTP in and out for the functions: parsing requests, and mapping every error to problem+json.

Every error the API can return is mapped in `to_problem`, the one place.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn
from urllib.parse import urlencode, urlsplit

import azure.functions as func
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field, ValidationError

from domain.errors import Conflict, DomainError, NotFound
from infra.app.commands import (
    ConcurrencyExhausted,
    Idempotency,
    IdempotencyKeyReused,
    VersionMismatch,
    canonical_json,
)
from infra.app.reactions import REACTION_KEY_PREFIX
from infra.ports.eventstore import MAX_VERSION, AppendTooLarge, Metadata, StoreUnavailable

MAX_BODY_BYTES = 64 * 1024
MAX_PAGE = 200
PROBLEM_JSON = "application/problem+json"
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
_CORRELATION_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_IF_MATCH_PATTERN = re.compile(r'^(?:W/)?"(\d{1,15})"$')
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]+")  # unpadded URL-safe base64, as `continuation_token` gives

log = logging.getLogger("eventbank.http")


class Problem(Exception):
    """An RFC 9457 problem: raised anywhere below a function, rendered by `handles_problems`."""

    def __init__(self, status: int, title: str, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.extensions = extensions

    def body(self) -> dict[str, Any]:
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        body: dict[str, Any] = {
            "type": f"urn:eventbank:problem:{slug}",
            "title": self.title,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        return body | self.extensions


def to_problem(error: Exception) -> Problem | None:
    """The HTTP meaning of every error that is the caller's to fix; None for our own bugs."""
    match error:
        case Problem():
            return error
        case NotFound():
            return Problem(404, _title(error), error.detail)
        case Conflict():
            return Problem(409, _title(error), error.detail)
        case DomainError():
            return Problem(422, _title(error), error.detail)
        case VersionMismatch():
            return Problem(412, "Version mismatch", str(error), current_version=error.actual)
        case ConcurrencyExhausted():
            return Problem(409, "Concurrent modification", str(error))
        case IdempotencyKeyReused():
            return Problem(422, "Idempotency key reused", str(error))
        case AppendTooLarge():
            return Problem(413, "Command too large", str(error))
        case StoreUnavailable():
            return Problem(
                503,
                "Service unavailable",
                "the store is busy or unreachable; retry later with the same Idempotency-Key",
                retry_after=error.retry_after_seconds,
            )
        case _:
            return None


def handles_problems(
    function: Callable[[func.HttpRequest], func.HttpResponse],
) -> Callable[..., func.HttpResponse]:
    @functools.wraps(function)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return function(req)
        except Exception as error:
            problem = to_problem(error)
            if problem is None:
                incident = str(uuid.uuid4())
                log.exception("unhandled error in %s (incident %s)", function.__name__, incident)
                problem = Problem(500, "Internal error", "the error was logged", incident=incident)
            return problem_response(problem)

    return wrapper


def problem_response(problem: Problem) -> func.HttpResponse:
    retry_after = problem.extensions.get("retry_after")
    return func.HttpResponse(
        json.dumps(problem.body()),
        status_code=problem.status,
        mimetype=PROBLEM_JSON,
        headers=None if retry_after is None else {"Retry-After": str(retry_after)},
    )


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=headers,
        mimetype="application/json",
    )


# --- reading requests ---


def parse_body[M: BaseModel](req: func.HttpRequest, model: type[M], allow_empty: bool = False) -> M:
    """The request body as `model`: size first (413), then media type (415), JSON (400), fields (422)."""
    body = req.get_body()
    if len(body) > MAX_BODY_BYTES:
        _fail(413, "Body too large", f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    if allow_empty and not body:  # no body at all; whitespace is not JSON, and is refused as such
        return model.model_validate({})
    media_type = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not re.fullmatch(r"application/[a-z0-9.+-]+\+json", media_type):
        _fail(415, "Unsupported media type", "send the body as application/json")
    try:
        data = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        _fail(400, "Malformed JSON", f"the body is not valid JSON: {error}")
    if not isinstance(data, dict):
        _fail(422, "Invalid command", "the body must be a JSON object", errors=[])
    return validate(model, data, "Invalid command")


def parse_query[M: BaseModel](req: func.HttpRequest, model: type[M]) -> M:
    return validate(model, dict(req.params), "Invalid query")


def validate[M: BaseModel](model: type[M], data: dict[str, Any], title: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors = [
            {"field": ".".join(str(part) for part in detail["loc"]) or "(body)", "message": detail["msg"]}
            for detail in error.errors()
        ]
        fields = ", ".join(entry["field"] for entry in errors)
        _fail(422, title, f"invalid or unknown fields: {fields}", errors=errors)


def continuation_token(key: str | None) -> str | None:
    """An opaque page token: the key the next page starts after."""
    return None if key is None else base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def continuation_key(token: str | None) -> str | None:
    if token is None:
        return None
    if not _TOKEN_PATTERN.fullmatch(token):  # the decoder would drop other characters, not refuse them
        _fail(422, "Invalid query", "continuation is not a token this API gave out")
    try:
        key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        _fail(422, "Invalid query", "continuation is not a token this API gave out")
    if not key.isprintable() or not key.isascii():
        _fail(422, "Invalid query", "continuation is not a token this API gave out")
    return key


def route_uuid(req: func.HttpRequest, name: str = "id") -> uuid.UUID:
    """A UUID route parameter; anything else names nothing that exists, so 404."""
    raw = req.route_params.get(name, "")
    try:
        return uuid.UUID(raw)
    except ValueError:
        _fail(404, "Not found", f"no resource has the id {raw[:64]!r}")


def expected_version(req: func.HttpRequest) -> int | None:
    header = req.headers.get("if-match")
    if header is None:
        return None
    match = _IF_MATCH_PATTERN.fullmatch(header.strip())
    if match is None:
        _fail(400, "Invalid If-Match", 'If-Match must be a version in quotes, as in the ETag: "3"')
    return int(match.group(1))


def idempotency(req: func.HttpRequest, canonical_command: Any) -> Idempotency | None:
    """The request's Idempotency-Key with a fingerprint of what it asks for (method, path and command)."""
    key = req.headers.get("idempotency-key")
    if key is None:
        return None
    if not _KEY_PATTERN.fullmatch(key):
        _fail(400, "Invalid Idempotency-Key", "use 1 to 255 visible ASCII characters, such as a UUID")
    if key.lower().startswith(REACTION_KEY_PREFIX):
        _fail(
            400,
            "Invalid Idempotency-Key",
            f"keys starting with {REACTION_KEY_PREFIX!r} are the services' own",
        )
    fingerprint = Idempotency.fingerprint_of(
        req.method, canonical_path(urlsplit(req.url).path), canonical_json(canonical_command)
    )
    return Idempotency(key, fingerprint)


def canonical_path(path: str) -> str:
    """The path as the routes read it: segments match ignoring case and a trailing slash, and an id is
    any spelling of its UUID (upper case, without hyphens, urn:uuid:), so a retry that spells them
    differently is the same request."""
    segments = []
    for segment in path.strip("/").split("/"):
        try:
            segments.append(str(uuid.UUID(segment)))
        except ValueError:
            segments.append(segment.lower())
    return "/" + "/".join(segments)


def metadata(req: func.HttpRequest, idempotency: Idempotency | None, actor: str | None) -> Metadata:
    """What a command's events record besides their data: the correlation, the key, and the actor (the
    signed-in principal's id, from the platform: infra/entry/identity.py)."""
    return Metadata(
        correlation_id=correlation_id(req),
        causation_id=str(uuid.uuid4()),
        idempotency_key=None if idempotency is None else idempotency.key,
        actor=actor,
    )


def correlation_id(req: func.HttpRequest) -> str:
    supplied = req.headers.get("x-correlation-id", "")
    return supplied if _CORRELATION_PATTERN.fullmatch(supplied) else str(uuid.uuid4())


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _title(error: Exception) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type(error).__name__).capitalize()


def _fail(status: int, title: str, detail: str, **extensions: Any) -> NoReturn:
    raise Problem(status, title, detail, **extensions)


def _in_utc(at: datetime) -> datetime:
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})")


def _iso_time(value: object) -> object:
    if isinstance(value, str) and not _ISO_TIME.fullmatch(value):
        raise ValueError("a time is ISO 8601 with its offset, as in 2026-11-30T12:00:00Z (+ sent as %2B)")
    return value


def _digits(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,18}", value):
        raise ValueError("a whole number is written with the digits 0 to 9 only")
    return value


# A query's time: ISO 8601 with an offset (no bare numbers, no space for the T), converted to UTC (refused
# if it is out of range once converted).
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_time), AfterValidator(_in_utc)]
# A query's whole number: digits only (no sign, spaces or underscores, which int() would take).
QueryInt = Annotated[int, BeforeValidator(_digits)]
# A stream's version in a query (its bounds inside the type, so the JSON schema of an optional one says
# them as `minimum` and `maximum`, not as pydantic's own `ge` and `le`).
QueryVersion = Annotated[int, Field(ge=1, le=MAX_VERSION), BeforeValidator(_digits)]
# A page's continuation: only ever the token a previous page's `next` link carries.
Continuation = Annotated[
    str,
    Field(
        max_length=512,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="the token in the previous page's `next` link; any other value is refused",
    ),
]
# A time in a query, in words (the schema says date-time).
TIME = "ISO 8601 with its offset (Z or +hh:mm, + sent as %2B), still within the years 1 to 9999 once in UTC"
# Read your writes: the version a command answered with (its ETag).
READ_YOUR_WRITES = (
    "read your writes: the version your command answered with (its ETag); the read waits briefly for the "
    "read model to reach it, and says X-Read-Model-Stale if it did not. Beyond the stream's version: 404"
)


def next_page(req: func.HttpRequest, continuation: str | None) -> str | None:
    """The link to the page after this one: the same query with the continuation token, and never the
    function key (`code`): links end up in logs and browser histories."""
    if continuation is None:
        return None
    params = {k: v for k, v in req.params.items() if k not in ("continuation", "code")}
    params["continuation"] = continuation_token(continuation) or ""
    return f"{urlsplit(req.url).path}?{urlencode(params)}"


def new_blueprint() -> func.Blueprint:
    """A Blueprint of functions; its HTTP routes take the app's auth level unless they name one."""
    return func.Blueprint()  # type: ignore[no-untyped-call]
