"""fcmatch: fine-tune small language models to extract causal maps, and measure them against people."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# Large CPU tensors on transparent huge pages: one page fault per 2 MB instead of 512, which makes training steps
# that grow the heap several times cheaper (fcmatch.train.memory). PyTorch reads this once, at its first CPU
# allocation, so it only helps when fcmatch is imported before torch; an explicit setting (e.g. 0) is kept.
if "torch" not in _sys.modules:
    _os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
