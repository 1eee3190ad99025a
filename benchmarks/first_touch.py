"""What memory a process touches for the first time costs on this machine, with and without huge pages.

Run:  python benchmarks/first_touch.py [--gb 2] [--pause 8] [--rounds 2]

Each round maps ``--gb`` GB of anonymous memory, writes one byte per 4 KiB page and unmaps it, once with 4 KiB
pages (``MADV_NOHUGEPAGE``) and once with transparent huge pages (``MADV_HUGEPAGE``), pausing ``--pause`` seconds
between mappings, then maps the same size again at once after an unmap. It prints seconds and system seconds
per GB and the page faults of each.

Why it matters for training: a run's first steps write its activations into memory the process has never
touched, and the later steps reuse it (``fcmatch.train.memory`` keeps freed memory in the process). On a VM whose
balloon device reports free pages to the host (virtio ``free page reporting``), memory the guest freed more than
about 2 s ago goes back to the host, and touching it again costs the host's page faults: seconds per GB. Memory
freed just before is still backed, and costs a tenth of that.
"""

from __future__ import annotations

import argparse
import mmap
import resource
import time


def touch(size: int, huge: bool) -> tuple[float, float, int]:
    """(seconds, system seconds, page faults) to write one byte per 4 KiB page of a fresh anonymous mapping."""
    region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        region.madvise(mmap.MADV_HUGEPAGE if huge else mmap.MADV_NOHUGEPAGE)
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for offset in range(0, size, 4096):
            region[offset] = 1
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        region.close()
    return seconds, after.ru_stime - before.ru_stime, after.ru_minflt - before.ru_minflt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=2.0, help="size of each mapping in GB")
    parser.add_argument("--pause", type=float, default=8.0, help="seconds between fresh mappings")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = int(args.gb * 2**30)
    print(f"{'pages':<8}{'memory':<30}{'s/GB':>7}{'sys s/GB':>10}{'faults':>10}")
    for _ in range(args.rounds):
        for huge in (False, True):
            kind = "2 MiB" if huge else "4 KiB"
            time.sleep(args.pause)
            for label in ("fresh (after a pause)", "just unmapped (no pause)"):
                seconds, system, faults = touch(size, huge)
                print(f"{kind:<8}{label:<30}{seconds / args.gb:>7.2f}{system / args.gb:>10.2f}{faults:>10}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
