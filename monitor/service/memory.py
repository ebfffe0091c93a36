"""Memory a pass no longer needs, handed back to the system.

A cold pass over a thousand feeds allocates and frees some hundred megabytes of small
objects. CPython's allocator keeps freed blocks for reuse, and glibc's malloc keeps the free
parts of its heap: the service's RSS would stay at the pass's high-water mark for as long as
it runs. After a pass that archived many articles, ``release_memory`` collects cycles and
asks glibc to return what is free (``malloc_trim``), once; a pass of 304s changes nothing
and costs nothing. During a pass, ``trim`` hands back what glibc holds free every
TRIM_EVERY archive commits (batching.py): a cold pass's bodies and parsed feeds come and go,
and the free pages between them would otherwise count in the service's high-water mark until
the pass ends (issue 18). Elsewhere than glibc (musl, macOS) only the collection runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

# New articles from which a pass is worth a full collection and a trim (each scans the heap):
# a cold pass, or a changed pass of many feeds; never the service's steady trickle.
RELEASE_AFTER = 1000
# Archive commits between two trims in a pass: a cold pass of 1,000 feeds commits some 600
# times, a service polling every minute a few times a pass. A trim takes about a millisecond.
# 25 before issue 18's sixth round: the free pages between two trims count in the high-water mark.
TRIM_EVERY = 5


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return trim


_TRIM = _malloc_trim()


def release_memory(new_articles: int) -> bool:
    """After a pass that archived `new_articles`: collect and trim when they were many.
    Whether it did."""
    if new_articles < RELEASE_AFTER:
        return False
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)
    return True


def trim() -> bool:
    """Hand glibc's free memory back to the system, without a collection. Whether it could."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
