from __future__ import annotations

from infra.app.cache import BoundedCache


def test_a_full_cache_forgets_the_least_recently_used_entry() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used

    cache.put("c", 3)

    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache: BoundedCache[str, int] = BoundedCache(0)

    cache.put("a", 1)

    assert cache.get("a") is None


def test_forgetting_an_entry_twice_is_the_same_as_once() -> None:
    cache: BoundedCache[str, int] = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)

    cache.forget("a")
    cache.forget("a")

    assert (cache.get("a"), cache.get("b")) == (None, 2)


def test_a_timed_entry_is_served_until_its_time_is_up_and_never_after() -> None:
    now = [100.0]
    cache: BoundedCache[str, int] = BoundedCache(2, ttl_seconds=60, clock=lambda: now[0])
    cache.put("a", 1)

    now[0] = 159.9
    served_before = cache.get("a")
    now[0] = 160.0

    assert (served_before, cache.get("a")) == (1, None)
    now[0] = 0.0  # a clock that went back does not bring it back: it was dropped
    assert cache.get("a") is None


def test_putting_an_entry_again_restarts_its_time() -> None:
    now = [0.0]
    cache: BoundedCache[str, int] = BoundedCache(2, ttl_seconds=60, clock=lambda: now[0])
    cache.put("a", 1)
    now[0] = 50.0
    cache.put("a", 2)

    now[0] = 100.0

    assert cache.get("a") == 2
