"""Supervised fine-tuning of causal LMs (LoRA, QLoRA, DoRA, BitFit, full): ``sft(TrainConfig(...)) -> run folder``.

The engine knows nothing about causal maps: a task (``fcmatch.tasks``) turns records into chat messages
and the loss falls on the assistant's completion only. See docs/training.md.
"""

from fcmatch.train.config import ConfigError, TrainConfig, load_config
from fcmatch.train.loop import sft
from fcmatch.train.merge import merge

__all__ = ["ConfigError", "TrainConfig", "load_config", "merge", "sft"]
