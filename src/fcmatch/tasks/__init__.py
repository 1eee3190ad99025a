"""Tasks turn domain records into chat examples for the task-agnostic training engine.

A task has ``read_records(path) -> [record, ...]`` (its file formats), ``to_example(record) ->
{"messages": [...]}`` (the last message is the assistant's completion, the only part trained on) and
``prompt_messages(record) -> [...]`` (the same conversation without the completion, for generation).
Registered in :data:`TASKS`.
"""

from fcmatch.tasks import causal

TASKS = {"causal": causal}

__all__ = ["TASKS", "causal"]
