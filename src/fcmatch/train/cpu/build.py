"""Compile the fast path's C and C++ sources at first use into ``$FCMATCH_HOME/kernels/`` and load them with ctypes.

They are built on the machine that runs them, not when fcmatch is installed, because the kernels are compiled for
the CPU they run on (``-march=native``): their vectors are as wide as its registers, and on an Intel Xeon with
AVX-512 a warm SmolLM2 step took 2.32-2.34 s with the AVX-512 build against 2.54-2.61 s built for AVX2
(2026-11-24). A compiler that refuses ``-march=native`` gets the next flag set, a portable build. A library's file
name hashes its sources, its first flag set and libraries, the compiler and whatever else the build depends on (the
CPU's model and flags, torch's version), so a home folder shared by different CPUs or torch releases holds one build
for each and a changed source or flag rebuilds. The build takes about a second and is written atomically (another
process may build the same file at the same time); a JSON file beside it records the flags that built it.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

Attempt = tuple[tuple[str, ...], tuple[str, ...]]
"""(compiler flags, libraries to link after the sources)."""


def cpu_signature() -> bytes:
    """What ``-march=native`` depends on: the machine, the CPU model and its feature flags."""
    lines = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags", "Features", "CPU part")):
                lines.append(line)
                if len(lines) >= 4:
                    break
    except OSError:
        lines.append(platform.processor())
    return "\n".join([platform.machine(), *lines]).encode()


def _compile(compiler: str, sources: tuple[Path, ...], attempts: tuple[Attempt, ...], target: Path) -> None:
    """Compile ``sources`` into one shared library, ``target``, with the first of ``attempts`` the compiler accepts,
    atomically, and record that attempt's flags beside it (``target`` with the suffix ``.json``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(handle)
    try:
        errors = []
        for flags, libraries in attempts:
            done = subprocess.run([compiler, *flags, *map(str, sources), "-o", tmp, *libraries], capture_output=True,
                                  text=True)
            if done.returncode == 0:
                record = {"compiler": compiler, "flags": list(flags), "libraries": list(libraries)}
                _write_atomically(target.with_suffix(".json"), json.dumps(record))
                os.replace(tmp, target)
                return
            errors.append(done.stderr.strip()[-2000:])
        raise OSError(f"{compiler} failed on {', '.join(map(str, sources))}:\n" + "\n".join(errors))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_atomically(path: Path, text: str) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def build_record(target: Path) -> dict | None:
    """The compiler, flags and libraries that built ``target`` (None for a library built before they were kept)."""
    try:
        return json.loads(target.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None


def cached_library(name: str, compiler: str, sources: tuple[Path, ...], attempts: tuple[Attempt, ...],
                   key: bytes) -> ctypes.CDLL:
    """Load ``$FCMATCH_HOME/kernels/{name}-{hash}.so``, compiling it first when absent; the hash covers the sources,
    the first attempt's flags and libraries, the compiler and ``key`` (what else the build depends on).

    The returned library's ``build`` attribute is :func:`build_record` of its file.

    Raises:
        OSError: every attempt failed (the compilers' messages included), or the library does not load.
    """
    from fcmatch.models import fcmatch_home

    flags, libraries = attempts[0]
    parts = [*(source.read_bytes() for source in sources), " ".join((*flags, *libraries)).encode(), compiler.encode(),
             key]
    digest = hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]
    target = fcmatch_home() / "kernels" / f"{name}-{digest}.so"
    if not target.exists():
        _compile(compiler, sources, attempts, target)
    library = ctypes.CDLL(str(target))
    library.build = build_record(target)
    return library
