"""The dev host's stand-in for App Service Authentication (Easy Auth): as the platform does, it removes
whatever `X-MS-CLIENT-PRINCIPAL*` headers a client sent and passes on the signed-in user's own, here a
configurable local user (by default an operator of the local stack, which is theirs). In test mode it
trusts the client's headers instead, so a test or a walkthrough can act as anyone, or as nobody."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from infra.entry.identity import OPERATOR_ROLE, Principal, principal_headers

DEFAULT_USER_NAME = "developer@localhost"
DEFAULT_USER_ROLES = (OPERATOR_ROLE,)
PRINCIPAL_HEADER_PREFIX = "x-ms-client-principal"


def local_user(name: str = DEFAULT_USER_NAME, roles: Iterable[str] = DEFAULT_USER_ROLES) -> Principal:
    """A local user with a stable id of their own: the same name is the same principal in every run."""
    principal_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"eventbank-devhost-user:{name}"))
    return Principal(principal_id, name, frozenset(role for role in roles if role))


@dataclass(frozen=True)
class EasyAuth:
    trust_client: bool = False  # test mode: the client's principal headers (or none) are taken as sent
    user: Principal = field(default_factory=local_user)

    def headers(self, sent: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The request's headers as the function sees them behind Easy Auth."""
        if self.trust_client:
            return list(sent)
        kept = [(name, value) for name, value in sent if not name.lower().startswith(PRINCIPAL_HEADER_PREFIX)]
        return kept + list(principal_headers(self.user).items())
