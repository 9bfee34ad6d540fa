"""C heap tuning for long-running processes that handle feed bodies (glibc only; elsewhere a no-op)."""

from __future__ import annotations

import sys

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
LARGE_BLOCK = 64 * 1024


def map_large_blocks(threshold: int = LARGE_BLOCK) -> bool:
    """Have the C allocator give every block of ``threshold`` bytes or more its own mapping, returned to
    the system when freed; False where that cannot be set (no glibc)."""
    # glibc starts at 128 KiB but raises its threshold to the size of each mapped block freed, up to 32 MiB.
    # After the first feed body (~140 KB) has been freed, every later body, read buffer and pickled result
    # comes from the heap instead, between long-lived objects (the story index grows all the time), and
    # the heap keeps its high-water mark: 21 MB of the main process's 164 MB peak polling 10,000 feeds.
    # Setting the threshold turns that adjustment off.
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # some minimal builds of Python have no ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
