"""feeds.heap: freed feed bodies go back to the system even between long-lived allocations."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from feeds.heap import map_large_blocks

# Allocates 200 body-sized blocks, each followed by a small long-lived one, frees the bodies and prints how
# much of them the process still holds (KiB). Run in a fresh interpreter: the allocator's state is global.
_RETAINED = textwrap.dedent(
    """
    import sys
    from feeds.heap import map_large_blocks

    def rss_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    if sys.argv[1] == "mapped":
        assert map_large_blocks()
    bytes(1 << 20)  # freed at once: glibc's own rule then maps only blocks of 1 MiB and more
    before = rss_kib()
    bodies, kept = [], []
    for _ in range(200):
        bodies.append(bytes(150_000))
        kept.append(bytes(2_000))
    del bodies
    print(rss_kib() - before)
    """
)


def _retained_kib(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _RETAINED, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return int(done.stdout)


def test_freed_bodies_are_returned_only_with_large_blocks_mapped() -> None:
    if not map_large_blocks():
        pytest.skip("no glibc mallopt here: map_large_blocks is a no-op")
    # 200 x 150 KB = 30 MB of bodies: without the setting glibc keeps nearly all of it.
    assert _retained_kib("default") > 15_000
    assert _retained_kib("mapped") < 5_000
