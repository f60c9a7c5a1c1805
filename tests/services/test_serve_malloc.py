"""glibc heap settings of `thuvien serve`: the mmap threshold is pinned and free heap pages can be given back."""

from __future__ import annotations

import platform

import pytest

from services.common.heap import pin_mmap_threshold, release_free_heap


def test_mmap_threshold_is_pinned_on_glibc():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt(M_MMAP_THRESHOLD) is glibc's; nothing to pin on this C library")
    assert pin_mmap_threshold() is True


def test_free_heap_pages_are_released_on_glibc():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc_trim is glibc's; nothing to release on this C library")
    # heap blocks below the mmap threshold, each followed by a small one that stays: the freed space lies inside
    # the heap, where only malloc_trim can give its pages back
    pairs = [(bytearray(64 * 1024), bytearray(64)) for _ in range(200)]
    kept = [small for _, small in pairs]
    del pairs
    assert release_free_heap() is True
    assert len(kept) == 200
