"""The key store contract, over every adapter: a subject's key is made once and kept until destroyed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from infra.ports.keys import KEY_BYTES, KeyStore

SUBJECT = "9f2c" * 16
OTHER = "1a7e" * 16


def test_a_subject_without_a_key_has_none(keys: KeyStore) -> None:
    assert keys.get(SUBJECT) is None


def test_a_created_key_is_256_random_bits_and_the_same_on_every_later_call(keys: KeyStore) -> None:
    key = keys.get_or_create(SUBJECT)

    assert len(key) == KEY_BYTES
    assert keys.get_or_create(SUBJECT) == key
    assert keys.get(SUBJECT) == key
    assert keys.get_or_create(OTHER) != key


def test_callers_racing_to_create_a_key_all_get_the_same_one(keys: KeyStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = set(pool.map(lambda _: keys.get_or_create(SUBJECT), range(16)))

    assert len(created) == 1


def test_a_destroyed_key_is_gone_and_a_new_one_is_not_the_old_one(keys: KeyStore) -> None:
    old = keys.get_or_create(SUBJECT)
    keys.get_or_create(OTHER)

    assert keys.destroy(SUBJECT) is True
    assert keys.get(SUBJECT) is None
    assert keys.get(OTHER) is not None
    assert keys.destroy(SUBJECT) is False
    assert keys.get_or_create(SUBJECT) != old
