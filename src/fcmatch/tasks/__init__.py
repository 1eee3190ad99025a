"""Tasks turn domain records into examples for the task-agnostic training engine.

A task has ``read_records(path) -> [record, ...]`` (its file formats), ``to_example(record)`` and
``prompt_messages(record) -> [...]`` (the chat conversation without the completion, for generation).
``to_example`` returns ``{"messages": [...]}``, a chat whose last message is the assistant's completion,
the only part trained on, or ``{"prompt": ..., "completion": ...}``, raw text for a task with a prompt
template of its own (the trainer then uses no chat template and appends eos to the completion).
Registered in :data:`TASKS`; ``instruct`` prompts with the Alpaca template, ``instruct-chat`` with the
model's chat template; ``causal-rag`` is the causal task with retrieved demonstrations in each prompt;
``classify`` and ``classify-<pattern>`` are the few-shot study's pattern-based classification (:mod:`.classify`).
"""

from fcmatch.tasks import causal, classify, instruct

TASKS = {"causal": causal, "causal-rag": causal.RETRIEVAL, "instruct": instruct.ALPACA, "instruct-chat": instruct.CHAT,
         **classify.TASKS}

__all__ = ["TASKS", "causal", "classify", "instruct"]
