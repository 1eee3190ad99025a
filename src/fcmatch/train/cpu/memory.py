"""Process-wide memory settings of the CPU fast path (glibc only; a no-op elsewhere): keep freed activation memory in
the process, allocate CPU tensors without holes, or else back torch's large tensors with transparent huge pages.

``fcmatch.train.cpu.process_setup`` makes them at the start of ``sft`` with ``fast_paths: auto`` on a CPU; nothing
here runs at import.

Each training step allocates and frees gigabytes of activations. On a 2-core VM first-touching a page costs about
4-9 us, so memory handed back to the OS and faulted in again costs more than the arithmetic:
- glibc's default adjusts its mmap threshold as blocks are freed, so a tensor a few KB larger than the
  largest freed mmapped block becomes a fresh mmap every time (an elementwise op over a 1,204 x 1,536
  tensor then ran 12 ms against 1.5 ms for 1,198 x 1,536);
- pinning the threshold low (128 KiB, which cut peak RSS from 4.8 to 3.5 GB) made every large tensor its own
  mapping and halved the speed of a LoRA step (129 against 226 tokens/s, same run).

So the threshold is pinned at glibc's maximum (32 MB: smaller blocks come from the heap) and trimming is
off (freed heap pages stay mapped for the next step). Peak RSS is the step's high-water mark either way.

Allocator. PyTorch's CPU allocator calls ``posix_memalign(64, n)``. glibc serves that from a free block only if it
has room for n plus the alignment, so the block a tensor frees is not reused for the next tensor of the same size
unless free neighbours merged into it: the heap grows with holes (about 440 MB over an 8-step benchmark run, each
byte first-touched at 1.3-2.6 s/GB on the VMs measured). :func:`use_malloc_allocator` installs ``allocator.cpp`` as
torch's CPU allocator: 64-byte-aligned blocks carved out of plain ``malloc(n + 88)``, which does reuse them.
Measured on the benchmark's 8-step run (2 cores, same process order alternated): 23.4 against 24.7 s, heap
1,744 against 2,097-2,214 MB, peak RSS 2,530 against 2,884-3,001 MB; a warm step 2.23-2.35 against 2.41-2.46 s.
It is compiled on first use with the system C++ compiler against torch's own headers (about a second) into
``$FCMATCH_HOME/kernels/`` (``fcmatch.train.cpu.build``). Once installed it stays for the life of the process
(oneDNN frees blocks through whichever allocator is current, so the default could not take its blocks back).
``FCMATCH_ALLOCATOR=0``, no C++ compiler, or no torch headers leave torch's allocator in place.

Huge pages. With torch's own allocator, a step that first meets a longer row faults its new pages in 4 KiB at a
time. PyTorch advises transparent huge pages (``madvise(MADV_HUGEPAGE)``) for CPU tensors of 2 MB or more when
``THP_MEM_ALLOC_ENABLE=1``: one fault per 2 MB instead of 512 (a fresh 200 MB tensor filled with 658 faults in
18-24 ms instead of 51,245 faults in 44-369 ms on a 2-core VM). PyTorch reads the variable once, at its first CPU
allocation, so :func:`enable_huge_pages` only helps a process that has not allocated a CPU tensor yet (as
``fcmatch train`` has not when the run starts). fcmatch's allocator serves tensors from ``malloc``, so it asks
for no huge pages. :func:`huge_pages` checks what torch actually does in this process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import shutil
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

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


def freed_memory_kept() -> bool:
    """Whether :func:`keep_freed_memory` has applied its settings in this process (without applying them)."""
    return keep_freed_memory.cache_info().currsize > 0 and keep_freed_memory()


THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")
THP_VARIABLE = "THP_MEM_ALLOC_ENABLE"


def enable_huge_pages() -> None:
    """Set ``THP_MEM_ALLOC_ENABLE=1`` unless the environment already sets it (e.g. to 0); it takes effect only if
    torch has not allocated a CPU tensor in this process yet."""
    os.environ.setdefault(THP_VARIABLE, "1")


def _advised_huge(address: int) -> bool:
    """Whether the mapping holding ``address`` carries ``MADV_HUGEPAGE`` (``hg`` in /proc/self/smaps' VmFlags)."""
    inside = False
    try:
        with open("/proc/self/smaps") as smaps:
            for line in smaps:
                head = line.split(maxsplit=1)[0]
                if head == "VmFlags:":
                    if inside:
                        return "hg" in line.split()
                elif "-" in head and not head.endswith(":"):
                    low, high = (int(x, 16) for x in head.split("-"))
                    inside = low <= address < high
    except (OSError, ValueError):
        pass
    return False


def torch_advises_huge_pages() -> bool:
    """Whether torch's CPU allocator, as it stands in this process, gives a 4 MB tensor huge pages: allocates one
    (untouched, so nothing is faulted in) and reads its mapping's flags."""
    import torch

    probe = torch.empty(1 << 20, dtype=torch.float32)
    return _advised_huge(probe.data_ptr())


def huge_pages() -> bool:
    """Whether torch's large CPU tensors get transparent huge pages in this process.

    True when fcmatch's allocator is not installed, ``THP_MEM_ALLOC_ENABLE`` is ``1`` (PyTorch accepts 0 and 1
    only), the kernel's THP mode is ``always`` or ``madvise``, and torch did read the variable as 1
    (:func:`torch_advises_huge_pages`: it reads it at its first CPU allocation, which may have come before it was set).
    """
    if os.environ.get(THP_VARIABLE) != "1" or malloc_allocator_installed():
        return False
    try:
        mode = THP_SETTING.read_text()
    except OSError:
        return False
    return ("[always]" in mode or "[madvise]" in mode) and torch_advises_huge_pages()


ALLOCATOR_SOURCE = Path(__file__).with_name("allocator.cpp")


def _build_allocator() -> ctypes.CDLL:
    import torch

    from fcmatch.train.cpu.build import cached_library

    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if not compiler:
        raise OSError("no C++ compiler found (c++ or g++; set CXX to choose one)")
    root = Path(torch.__file__).parent
    if not (root / "include" / "c10" / "core" / "CPUAllocator.h").is_file():
        raise OSError(f"torch's C++ headers are missing from {root / 'include'}")
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    flags = ("-O2", "-std=c++17", "-shared", "-fPIC", f"-D_GLIBCXX_USE_CXX11_ABI={abi}", f"-I{root / 'include'}")
    libraries = (f"-L{root / 'lib'}", "-lc10", f"-Wl,-rpath,{root / 'lib'}")
    library = cached_library("allocator", compiler, (ALLOCATOR_SOURCE,), ((flags, libraries),),
                             torch.__version__.encode())
    library.fc_install_allocator.restype = library.fc_allocator_installed.restype = ctypes.c_int
    return library


@functools.cache
def _allocator() -> ctypes.CDLL | None:
    try:
        return _build_allocator()
    except OSError as error:
        logger.info("fcmatch: keeping torch's CPU allocator: %s", error)
        return None


def use_malloc_allocator() -> bool:
    """Make fcmatch's malloc-backed allocator torch's CPU allocator for the rest of this process (see the module
    docstring); returns whether it is installed. A no-op returning False off Linux, with ``FCMATCH_ALLOCATOR=0``,
    or when it cannot be built."""
    if not sys.platform.startswith("linux") or os.environ.get("FCMATCH_ALLOCATOR", "1") == "0":
        return False
    library = _allocator()
    return library is not None and bool(library.fc_install_allocator())


def malloc_allocator_installed() -> bool:
    """Whether fcmatch's allocator is torch's CPU allocator now (without building or installing it)."""
    if _allocator.cache_info().currsize == 0:  # never built in this process, so never installed
        return False
    library = _allocator()
    return library is not None and bool(library.fc_allocator_installed())
