"""fcmatch: fine-tune small language models to extract causal maps, and measure them against people."""

import logging as _logging

__version__ = "0.1.0"

# Importing fcmatch sets no environment variable and installs nothing process-wide: the CPU training fast path's
# settings (malloc, allocator, huge pages) are made inside fcmatch.train.sft, with fast_paths: auto, by
# fcmatch.train.cpu.process_setup.

# bitsandbytes, on a CPU with AVX512-BF16, tries at import to fetch a 4-bit kernel from the Hugging Face hub and logs
# "please pip install kernels" when it cannot: a hint that misleads here, since fcmatch never downloads at run time and
# bitsandbytes' own CPU path serves the 4-bit layers without it. Matched by its text; other warnings still show.
HUB_KERNEL_HINT = "Failed to load CPU gemm_4bit_forward from kernels-community"
_logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(lambda record: not record.getMessage().startswith(HUB_KERNEL_HINT))
