"""fcmatch: fine-tune small language models to extract causal maps, and measure them against people."""

import logging as _logging
import os as _os
import sys as _sys

__version__ = "0.1.0"

# Large CPU tensors on transparent huge pages: one page fault per 2 MB instead of 512, which makes training steps
# that grow the heap several times cheaper (fcmatch.train.memory). PyTorch reads this once, at its first CPU
# allocation, so it only helps when fcmatch is imported before torch; an explicit setting (e.g. 0) is kept.
if "torch" not in _sys.modules:
    _os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

# bitsandbytes, on a CPU with AVX512-BF16, tries at import to fetch a 4-bit kernel from the Hugging Face hub and logs
# "please pip install kernels" when it cannot: a hint that misleads here, since fcmatch never downloads at run time and
# bitsandbytes' own CPU path serves the 4-bit layers without it. Matched by its text; other warnings still show.
HUB_KERNEL_HINT = "Failed to load CPU gemm_4bit_forward from kernels-community"
_logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(lambda record: not record.getMessage().startswith(HUB_KERNEL_HINT))
