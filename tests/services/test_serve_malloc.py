"""`thuvien serve` pins glibc's mmap threshold (large freed arrays go back to the system)."""

from __future__ import annotations

import platform

import pytest

from services.serve import pin_mmap_threshold


def test_mmap_threshold_is_pinned_on_glibc():
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt(M_MMAP_THRESHOLD) is glibc's; nothing to pin on this C library")
    assert pin_mmap_threshold() is True
