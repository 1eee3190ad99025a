"""Give freed activation memory back to the OS during training (glibc only; a no-op elsewhere).

glibc's malloc raises its mmap threshold each time a large block is freed (up to 32 MB), so after the first
step the forward pass's megabyte-sized temporaries come from the heap and stay in the process when freed: on
SmolLM2-135M LoRA (1,200-token packed rows) peak RSS measured 4.8 GB against 3.5 GB with the threshold pinned
at 128 KiB, at the same speed. Pinning it (mallopt M_MMAP_THRESHOLD, which also stops the adjustment) makes
every large tensor its own mapping, returned on free.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_MMAP_THRESHOLD = -3
THRESHOLD_BYTES = 128 * 1024


@functools.cache
def pin_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold at 128 KiB for this process; returns whether it was applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
