"""fcmatch's CPU tensor allocator (``fcmatch.train.cpu.memory.use_malloc_allocator``), each case in its own process:
once installed, the allocator stays for the life of the process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or not (shutil.which("c++") or shutil.which("g++")),
                                reason="the allocator is built with a C++ compiler on Linux")


def _run(code: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_allocator_serves_aligned_reusable_blocks_and_frees_what_the_default_made():
    out = _run("""
        import numpy as np, torch
        from fcmatch.train.cpu import memory

        memory.keep_freed_memory()  # as sft does: blocks under 32 MB from the heap
        early = torch.randn(96, 80)
        early_dnn = torch.randn(64, 64).to_mkldnn()  # oneDNN's block, made by torch's default allocator
        assert not memory.malloc_allocator_installed()
        assert memory.use_malloc_allocator() and memory.malloc_allocator_installed()
        assert memory.use_malloc_allocator()  # a second call keeps it
        assert not memory.huge_pages()

        a, b = torch.randn(300, 200, dtype=torch.float64), torch.randn(200, 100, dtype=torch.float64)
        assert all(t.data_ptr() % 64 == 0 for t in (a, b, torch.empty(3), torch.empty(1 << 22, dtype=torch.uint8)))
        # atol: an entry near 0 after cancellation differs by ~4e-15 between MKL and numpy (summation order)
        np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy(), rtol=1e-12, atol=1e-12)
        assert torch.empty(0).numel() == 0

        # A freed block serves the next one of its size: replacing a block between two live ones 20 times leaves the
        # heap as it was (torch's posix_memalign grew it by one block of each larger size here). The exact address
        # the new block gets depends on glibc's bins: CI once saw another one than the freed block's.
        import ctypes

        class MallInfo2(ctypes.Structure):
            _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                              "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        for numel in (1 << 10, 1 << 16, 3 << 20):
            blocks = [torch.empty(numel) for _ in range(4)]
            heap = libc.mallinfo2().arena
            for _ in range(20):
                del blocks[1]
                blocks.insert(1, torch.empty(numel))
            assert libc.mallinfo2().arena == heap, (numel, libc.mallinfo2().arena - heap)
            del blocks

        del early_dnn  # freed through this allocator's deleter: must go to free() as the default's would
        dense = torch.randn(64, 64)
        assert torch.equal(dense.to_mkldnn().to_dense(), dense)  # oneDNN's raw_allocate / raw_deallocate path
        assert torch.equal(early * 2, early + early)

        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            t = torch.empty(1000, 1000)
            del t
        events = [e for e in prof.key_averages() if e.key == "aten::empty"]
        assert events and events[0].cpu_memory_usage == 4_000_000, events
        print("ok")
    """)
    assert out.strip().endswith("ok")


def test_allocator_can_be_turned_off_and_a_missing_compiler_keeps_torchs(tmp_path):
    code = """
        import torch
        from fcmatch.train.cpu import memory
        print(memory.use_malloc_allocator(), memory.malloc_allocator_installed())
    """
    assert _run(code, FCMATCH_ALLOCATOR="0").split() == ["False", "False"]
    assert _run(code, CXX=str(tmp_path / "no-such-c++"), FCMATCH_HOME=str(tmp_path)).split() == ["False", "False"]


def test_without_the_allocator_process_setup_turns_on_torchs_huge_pages_before_its_first_allocation():
    """``FCMATCH_ALLOCATOR=0``: process_setup sets THP_MEM_ALLOC_ENABLE=1, which torch's tensors of 2 MB and more
    then get, and reports it; after torch's first allocation it is too late, and the report says so."""
    from fcmatch.train.cpu import memory

    try:
        mode = memory.THP_SETTING.read_text()
    except OSError:
        pytest.skip("no transparent huge pages in this kernel")
    if "[never]" in mode:
        pytest.skip("transparent huge pages are off in this kernel")
    code = """
        import os, torch
        {early}
        from fcmatch.train import cpu
        setup = cpu.process_setup()
        print(setup["allocator"], setup["huge_pages"], os.environ["THP_MEM_ALLOC_ENABLE"])
    """
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    for early, applied in (("", "True"), ("torch.empty(10)", "False")):
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code.format(early=early))], capture_output=True,
                              text=True, timeout=300, env={**env, "FCMATCH_ALLOCATOR": "0"})
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.split() == ["torch", applied, "1"]
