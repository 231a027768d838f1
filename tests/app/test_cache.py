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
