"""The bounded LRU store of the pages: the bound holds, evictions are reported, least recently used first."""

import threading

import numpy as np
import pytest

from pages.bounded_cache import BoundedCache


def test_the_bound_holds_and_each_eviction_is_reported_oldest_first():
    cache = BoundedCache(3)
    evicted = []
    for i in range(10):
        evicted += cache.put(f"k{i}", i)
        assert len(cache) == min(i + 1, 3)
    assert cache.keys() == ["k7", "k8", "k9"]
    assert evicted == [(f"k{i}", i) for i in range(7)]


def test_a_read_makes_an_entry_the_most_recent():
    cache = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recent
    assert cache.put("c", 3) == [("b", 2)]
    assert cache.keys() == ["a", "c"] and "b" not in cache and cache.get("b", "gone") == "gone"


def test_storing_a_key_again_replaces_it_without_evicting_another():
    cache = BoundedCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.put("a", 10) == []
    assert cache.keys() == ["b", "a"] and cache.get("a") == 10


def test_a_byte_bound_evicts_as_many_as_needed_but_keeps_the_newest():
    cache = BoundedCache(10, max_bytes=1000, size=lambda a: a.nbytes)
    for key in "abc":
        assert cache.put(key, np.zeros(300, np.uint8)) == []
    evicted = cache.put("d", np.zeros(700, np.uint8))  # 1600 bytes: a and b must go
    assert [k for k, _ in evicted] == ["a", "b"] and cache.nbytes == 1000
    evicted = cache.put("huge", np.zeros(5000, np.uint8))  # alone over the bound: stays, all others go
    assert [k for k, _ in evicted] == ["c", "d"] and cache.keys() == ["huge"] and cache.nbytes == 5000
    cache.put("huge", np.zeros(10, np.uint8))  # replacing a value counts its new size only
    assert cache.nbytes == 10


@pytest.mark.parametrize("args", [dict(max_entries=0), dict(max_entries=2, max_bytes=10),
                                  dict(max_entries=2, max_bytes=0, size=len)])
def test_bad_bounds_are_refused(args):
    with pytest.raises(ValueError):
        BoundedCache(**args)


def test_threads_sharing_it_never_exceed_the_bound_or_lose_an_eviction():
    cache, n_threads, per_thread = BoundedCache(5), 8, 500
    evicted, sizes, lock = [], [], threading.Lock()

    def work(t):
        for i in range(per_thread):
            out = cache.put((t, i), i)
            cache.get((t, max(0, i - 1)))
            size = len(cache)
            with lock:
                evicted.extend(k for k, _ in out)
                sizes.append(size)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert max(sizes) == 5
    # every key stored is either still there or was reported evicted, exactly once
    assert len(evicted) == len(set(evicted)) == n_threads * per_thread - len(cache)
    assert not set(evicted) & set(cache.keys())


def test_continuations_are_kept_per_model_and_decoded_images_handed_out_as_copies(chelsea):
    import io

    from PIL import Image

    from pages import widgets

    widgets._store.clear()
    calls = []

    def lm(name, ids):
        return type("LM", (), {"name": name, "generate": lambda self, p, n: calls.append(name) or ids})()

    a, b = lm("a", [1, 2]), lm("b", [7])
    assert widgets.cached_continuation(a, "hi", 2) == [1, 2]
    assert widgets.cached_continuation(b, "hi", 2) == [7]  # same prompt, another model: its own continuation
    assert widgets.cached_continuation(a, "hi", 2) == [1, 2] and calls == ["a", "b"]

    buffer = io.BytesIO()
    Image.fromarray(chelsea).save(buffer, format="PNG")
    first = widgets.cached_decode(buffer.getvalue(), "cat.png")
    first[:] = 0  # a page scribbling on its image cannot change what another session gets
    second = widgets.cached_decode(buffer.getvalue(), "cat.png")
    assert np.array_equal(second, chelsea)
    assert len(widgets._store("images", widgets.MAX_IMAGES, widgets.MAX_IMAGE_BYTES)) == 1


def test_pop_removes_a_key_and_its_bytes():
    cache = BoundedCache(3, max_bytes=10, size=len)
    cache.put("a", b"12345")
    cache.put("b", b"123")
    assert cache.pop("a") == b"12345" and "a" not in cache and cache.nbytes == 3
    assert cache.pop("a", "gone") == "gone" and len(cache) == 1
