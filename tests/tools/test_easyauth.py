"""The dev host's stand-in for Easy Auth: what a client sends as a principal never gets through, unless
the dev host runs in test mode."""

from __future__ import annotations

from infra.entry.identity import Principal, principal_headers, principal_of
from infra.tools.easyauth import EasyAuth, local_user

MALLORY = Principal("mallory", "mallory@example.com", frozenset({"Operator"}))


def test_a_principal_a_client_sends_is_replaced_by_the_local_user() -> None:
    sent = [
        ("Content-Type", "application/json"),
        *principal_headers(MALLORY).items(),
        ("X-MS-CLIENT-PRINCIPAL-IDP", "x"),
    ]

    seen = EasyAuth().headers(sent)

    assert principal_of({k.lower(): v for k, v in seen}) == local_user()
    assert ("Content-Type", "application/json") in seen
    assert not any(value in ("mallory", "x") for _, value in seen)


def test_in_test_mode_the_clients_principal_is_taken_as_sent_and_none_is_nobody() -> None:
    test_mode = EasyAuth(trust_client=True)

    as_mallory = {k.lower(): v for k, v in test_mode.headers(principal_headers(MALLORY).items())}

    assert principal_of(as_mallory) == MALLORY
    assert principal_of(dict(test_mode.headers([("Accept", "*/*")]))) is None


def test_the_local_user_is_the_same_principal_in_every_run_and_another_name_is_another() -> None:
    assert local_user("ada@localhost") == local_user("ada@localhost")
    assert local_user("ada@localhost").id != local_user("grace@localhost").id
    assert local_user().is_operator
    assert not local_user("ada@localhost", roles=[""]).is_operator
