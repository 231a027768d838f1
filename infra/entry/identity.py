"""Who is calling, and what they may do: the principal App Service Authentication (Easy Auth) puts in front
of every request it lets through, and the app's rules of access over it.

In Azure, Easy Auth validates the caller's token before the request reaches the app and passes on who
they are in `X-MS-CLIENT-PRINCIPAL-ID`, `-NAME` and `X-MS-CLIENT-PRINCIPAL` (base64 JSON: the claims, the
role claim's type); a client cannot set those headers itself while authentication is on. Without it,
anybody could: so the app believes them only on the platform (`WEBSITE_SITE_NAME` is set) with
authentication on (`WEBSITE_AUTH_ENABLED` is `True`), or off the platform where a local host says it puts
them there (`EVENTBANK_IDENTITY_HEADERS=local`: the dev host, the tests). Anywhere else it fails closed
and refuses every request but health, unless `EVENTBANK_AUTHORIZATION=off` says this is an open demo.

The rules: an account belongs to the principal who opened it (its holder) and only they act on it or
read it; a transfer is read by the principal who requested it; an operator (the `Operator` app role in
the principal's claims) reads everything and uses the operator routes. Anyone else is told the thing does
not exist (404), so existence is not revealed either.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from infra.entry import bootstrap, http

log = logging.getLogger("eventbank.identity")

OPERATOR_ROLE = "Operator"

PRINCIPAL_ID = "x-ms-client-principal-id"
PRINCIPAL_NAME = "x-ms-client-principal-name"
PRINCIPAL = "x-ms-client-principal"

# the role claim's type when the principal does not name one (Microsoft Entra ID's app roles)
DEFAULT_ROLE_CLAIM = "roles"


@dataclass(frozen=True)
class Principal:
    """A signed-in caller: their stable id (the holder of what they open), name and app roles."""

    id: str
    name: str | None = None
    roles: frozenset[str] = frozenset()

    @property
    def is_operator(self) -> bool:
        return OPERATOR_ROLE in self.roles


@dataclass(frozen=True)
class Access:
    """What the caller of one request may do. With authorization off (an open demo) everyone may do
    everything, and `principal` is whoever Easy Auth or the client said, if anyone."""

    principal: Principal | None
    enforced: bool = True

    @property
    def holder(self) -> str | None:
        """What a new account or transfer records as its holder or requester."""
        return None if self.principal is None else self.principal.id

    @property
    def is_operator(self) -> bool:
        return not self.enforced or (self.principal is not None and self.principal.is_operator)

    def holds(self, holder: str | None) -> bool:
        """Whether the caller may act on what `holder` holds (and read it)."""
        return not self.enforced or (self.principal is not None and holder == self.principal.id)

    def reads(self, holder: str | None) -> bool:
        """Whether the caller may read what `holder` holds: its holder, or an operator."""
        return self.holds(holder) or self.is_operator


def access(req: func.HttpRequest, env: Mapping[str, str] | None = None) -> Access:
    """The caller's access, or a problem: 503 where the identity headers cannot be believed (fail
    closed: see `_untrusted`), 401 when authorization is enforced and nobody signed in."""
    env = os.environ if env is None else env
    settings = bootstrap.settings()
    enforced = settings.authorization == "enforced"
    if enforced and (why := _untrusted(env, settings.identity_headers)):
        log.error("%s: refusing every request but health", why)
        raise http.Problem(
            503,
            "Authentication not configured",
            "this deployment has no sign-in in front of it, so it serves nobody",
        )
    principal = principal_of(req.headers)
    if enforced and principal is None:
        raise http.Problem(401, "Unauthenticated", "sign in first: this API serves signed-in callers")
    return Access(principal, enforced)


def key_scope(caller: Access) -> str:
    """Whose Idempotency-Keys a new stream's key is scoped to: each principal has a space of its own, and
    the anonymous callers of an open demo share one that no principal's id can spell."""
    return "anonymous" if caller.holder is None else f"principal:{caller.holder}"


def operator(req: func.HttpRequest) -> Access:
    """The caller's access if they are an operator, else a problem: 403, since the operator routes' own
    existence is no secret."""
    found = access(req)
    if not found.is_operator:
        raise http.Problem(403, "Forbidden", f"this route is for callers with the {OPERATOR_ROLE} role")
    return found


def _untrusted(env: Mapping[str, str], identity_headers: str) -> str | None:
    """Why the identity headers cannot be believed here, or None if they can: in Azure only behind the
    platform's authentication; anywhere else only where a local host says it puts them there."""
    if on_platform(env):
        if authentication_enabled(env):
            return None
        return (
            "App Service Authentication is off: enable it (the deployment's authsettingsV2) or, for an "
            "open demo, set EVENTBANK_AUTHORIZATION=off"
        )
    if identity_headers == "local":
        return None
    return (
        "nothing in front of this app signs callers in: outside Azure, set EVENTBANK_IDENTITY_HEADERS=local "
        "only where a local host puts the identity headers there (the dev host does), or "
        "EVENTBANK_AUTHORIZATION=off for an open demo"
    )


def on_platform(env: Mapping[str, str]) -> bool:
    """Running in App Service or Azure Functions (the platform sets the site name), not locally."""
    return bool(env.get("WEBSITE_SITE_NAME"))


def authentication_enabled(env: Mapping[str, str]) -> bool:
    """The platform's own marker that App Service Authentication is on (never set it yourself)."""
    return env.get("WEBSITE_AUTH_ENABLED", "").lower() == "true"


def principal_of(headers: Mapping[str, str]) -> Principal | None:
    """The principal Easy Auth passed on, or None: no id means nobody signed in. The claims header, when
    present, must be what Easy Auth writes; anything else is refused rather than half-believed."""
    principal_id = headers.get(PRINCIPAL_ID, "").strip()
    if not principal_id:
        return None
    name = headers.get(PRINCIPAL_NAME, "").strip() or None
    encoded = headers.get(PRINCIPAL, "").strip()
    return Principal(principal_id, name, _roles(encoded) if encoded else frozenset())


def _roles(encoded: str) -> frozenset[str]:
    try:
        claims: Any = json.loads(base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True))
        role_type = claims.get("role_typ") or DEFAULT_ROLE_CLAIM
        return frozenset(
            str(claim["val"])
            for claim in claims.get("claims") or []
            if claim.get("typ") in (role_type, DEFAULT_ROLE_CLAIM)
        )
    except (binascii.Error, ValueError, TypeError, AttributeError, KeyError, RecursionError):
        raise http.Problem(
            401, "Unauthenticated", "the X-MS-CLIENT-PRINCIPAL header is not what Easy Auth sends"
        ) from None


def principal_headers(principal: Principal) -> dict[str, str]:
    """The headers Easy Auth would send for `principal` (the dev host's stand-in, and the tests')."""
    claims = {
        "auth_typ": "aad",
        "name_typ": "name",
        "role_typ": DEFAULT_ROLE_CLAIM,
        "claims": [
            *([{"typ": "name", "val": principal.name}] if principal.name else []),
            *({"typ": DEFAULT_ROLE_CLAIM, "val": role} for role in sorted(principal.roles)),
        ],
    }
    headers = {
        "X-MS-CLIENT-PRINCIPAL-ID": principal.id,
        "X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(claims).encode()).decode(),
        "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
    }
    if principal.name:
        headers["X-MS-CLIENT-PRINCIPAL-NAME"] = principal.name
    return headers
