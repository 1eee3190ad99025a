"""Extraction: prompt a (fine-tuned) model with each sentence, decode in batches, parse its causal map."""

from fcmatch.extract.config import ExtractConfig, GenerationSettings
from fcmatch.extract.generation import chat_prompt, generate_batch, generate_texts
from fcmatch.extract.pipeline import extract, extract_maps, pick_demonstrations, read_partial

__all__ = [
    "ExtractConfig",
    "GenerationSettings",
    "chat_prompt",
    "extract",
    "extract_maps",
    "generate_batch",
    "generate_texts",
    "pick_demonstrations",
    "read_partial",
]
