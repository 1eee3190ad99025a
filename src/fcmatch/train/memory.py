"""Keep freed activation memory in the process during training (glibc only; a no-op elsewhere).

Each training step allocates and frees gigabytes of activations. On this 2-core VM first-touching a page
costs about 4-9 us, so memory handed back to the OS and faulted in again costs more than the arithmetic:
- glibc's default adjusts its mmap threshold as blocks are freed, so a tensor a few KB larger than the
  largest freed mmapped block becomes a fresh mmap every time (an elementwise op over a 1,204 x 1,536
  tensor then ran 12 ms against 1.5 ms for 1,198 x 1,536);
- pinning the threshold low (128 KiB, which session 2 did to cut peak RSS from 4.8 to 3.5 GB) made every
  large tensor its own mapping and halved the speed of a LoRA step (129 against 226 tokens/s, same run).

So the threshold is pinned at glibc's maximum (32 MB: smaller blocks come from the heap) and trimming is
off (freed heap pages stay mapped for the next step). Peak RSS is the step's high-water mark either way.

Huge pages. Whatever is kept, a step that first meets a longer row still faults its new pages in, 4 KiB at a
time. PyTorch backs CPU tensors of 2 MB or more with transparent huge pages when ``THP_MEM_ALLOC_ENABLE=1``
(it aligns them to 2 MB and calls ``madvise(MADV_HUGEPAGE)``): one fault per 2 MB instead of 512. Filling a
fresh 200 MB tensor took 658 faults and 18-24 ms instead of 51,245 faults and 44-369 ms on a 2-core VM, and an
8-step fp32 LoRA run went from 333.7 to 354.7 tokens/s (919k to 391k faults). PyTorch reads the variable once, at its first CPU allocation,
so ``import fcmatch`` sets it (unless it is already set, e.g. to 0) when torch is not imported yet; a program
that imports torch first can set it itself. The kernel must allow it: ``madvise`` or ``always`` in
``/sys/kernel/mm/transparent_hugepage/enabled`` (:func:`huge_pages` reports whether both hold).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from pathlib import Path

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's maximum
TRIM_BYTES = 2**31 - 1  # mallopt takes a C int: ~2 GB free at the heap top before any is returned


@functools.cache
def keep_freed_memory() -> bool:
    """Pin glibc's mmap threshold at 32 MB and turn off heap trimming for this process; returns whether applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False


THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def huge_pages() -> bool:
    """Whether torch's large CPU tensors get transparent huge pages in this process.

    True when ``THP_MEM_ALLOC_ENABLE`` is ``1`` (PyTorch accepts 0 and 1 only) and the kernel's THP mode is
    ``always`` or ``madvise``. The variable only counts if it was set before torch's first allocation, which this
    cannot see.
    """
    if os.environ.get("THP_MEM_ALLOC_ENABLE") != "1":
        return False
    try:
        mode = THP_SETTING.read_text()
    except OSError:
        return False
    return "[always]" in mode or "[madvise]" in mode
