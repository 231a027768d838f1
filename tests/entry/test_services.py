"""The list of services: each one's resources are its own."""

from __future__ import annotations

import dataclasses

import pytest

from infra.entry.services import ACCOUNTS, SERVICES, TRANSFERS, Subscription, check_distinct
from tests.toy.counters import COUNTERS


def test_the_services_share_no_resource() -> None:
    check_distinct([*SERVICES, COUNTERS])


@pytest.mark.parametrize(
    ("field", "what"),
    [
        ("name", "service"),
        ("hub", "hub"),
        ("events_container", "events container"),
        ("relay_function", "function"),
        ("projector_function", "function"),
        ("lease_prefix_setting", "lease prefix setting"),
        ("lease_prefix", "lease prefix"),
    ],
)
def test_two_services_sharing_a_resource_are_refused(field: str, what: str) -> None:
    accounts = ACCOUNTS
    clash = dataclasses.replace(COUNTERS, **{field: getattr(accounts, field)})

    with pytest.raises(ValueError, match=f"two services share a {what}: "):
        check_distinct([accounts, clash])


def test_two_services_with_a_read_model_of_the_same_name_are_refused() -> None:
    accounts = ACCOUNTS
    clash = dataclasses.replace(COUNTERS, projections=accounts.projections)

    with pytest.raises(ValueError, match=r"two services share a read model: .*account-summary"):
        check_distinct([accounts, clash])


def test_a_subscription_function_named_like_another_function_is_refused() -> None:
    [subscription] = TRANSFERS.subscriptions
    clash = dataclasses.replace(
        COUNTERS, subscriptions=(dataclasses.replace(subscription, function=ACCOUNTS.projector_function),)
    )

    with pytest.raises(ValueError, match="two services share a function: project_read_models"):
        check_distinct([ACCOUNTS, clash])


def test_two_readers_of_one_hub_in_one_consumer_group_are_refused() -> None:
    steals = Subscription("accounts", ACCOUNTS.read_models_consumer_group, "steal", lambda *_: [])
    clash = dataclasses.replace(COUNTERS, subscriptions=(steals,))

    with pytest.raises(ValueError, match="two services share a consumer group: accounts/accounts-readmodels"):
        check_distinct([ACCOUNTS, clash])
