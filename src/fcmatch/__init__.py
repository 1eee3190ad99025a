"""fcmatch: fine-tune small language models to extract causal maps, and measure them against people."""

__version__ = "0.1.0"
