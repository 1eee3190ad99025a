"""Patterns and verbalizers: how a (text1, text2) record becomes a prompt, and each label one answer token.

The three patterns of the reference study (Mosbach et al. 2023, after Brown et al. 2020 and the eval harness),
exactly as issue #28 gives them, plus a chat-template variant:

=============== ============================================ ================ ==================
name            template                                      target prefix    verbalizer yes/no
=============== ============================================ ================ ==================
``minimal``     ``{text1} {text2} ?``                         ``" "``          `` Yes``/`` No``
``gpt-3``       ``{text1} question: {text2} Yes or No?``      ``" answer: "``  `` Yes``/`` No``
``eval-harness````{text1} \\nQuestion: {text2} True or False?`` ``"\\nAnswer: "`` `` True``/`` False``
``chat``        the gpt-3 question as the user turn of the model's chat template; ``Yes``/``No`` answers
=============== ============================================ ================ ==================

A verbalizer that starts with a space carries the target prefix's trailing space (BPE tokenizers attach
a word's leading space to the word: `` Yes`` is one token, ``" " + "Yes"`` two), so the prompt ends at
the prefix with its trailing spaces stripped and the answer token follows.

Demonstrations and the query are rendered by the same function, :func:`render`; a demonstration is the
query with its answer appended, and demonstrations are separated by a blank line (``\\n\\n``).
A user pattern is a dict (or YAML mapping) with the fields of :class:`Pattern`; see :func:`pattern_from_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fcmatch.fewshot.data import NO, YES, ClassRecord

SEPARATOR = "\n\n"


class PatternError(ValueError):
    """A malformed pattern or a verbalizer that is not one token of the tokenizer."""


@dataclass(frozen=True)
class Pattern:
    """A named prompt template with its verbalizer.

    Attributes:
        name: the pattern's name in :data:`PATTERNS` and in results.
        template: ``str.format`` template with ``{text1}`` and (for pair tasks) ``{text2}``.
        prefix: the target prefix after the template (``" answer: "``).
        verbalizer: label -> answer text; each must be one token of the model's tokenizer.
        chat: render through the tokenizer's chat template (template = user turn, answer = assistant turn).
        separator: between demonstrations (a blank line; ignored for chat, where each is a turn pair).
    """

    name: str
    template: str
    prefix: str
    verbalizer: dict[str, str] = field(default_factory=lambda: {YES: " Yes", NO: " No"})
    chat: bool = False
    separator: str = SEPARATOR

    def to_dict(self) -> dict[str, Any]:
        """The YAML/dict form :func:`pattern_from_dict` reads."""
        return asdict(self)


PATTERNS: dict[str, Pattern] = {
    "minimal": Pattern("minimal", "{text1} {text2} ?", " "),
    "gpt-3": Pattern("gpt-3", "{text1} question: {text2} Yes or No?", " answer: "),
    "eval-harness": Pattern("eval-harness", "{text1} \nQuestion: {text2} True or False?", "\nAnswer: ",
                            {YES: " True", NO: " False"}),
    "chat": Pattern("chat", "{text1}\nQuestion: {text2} Yes or No?", "", {YES: "Yes", NO: "No"}, chat=True),
}
"""The built-in patterns by name (a test walks them)."""


def pattern_from_dict(spec: Mapping[str, Any], where: str = "pattern") -> Pattern:
    """A :class:`Pattern` from its dict form (e.g. a grid config's ``patterns:`` entry).

    Raises:
        PatternError: unknown or missing fields, a template without ``{text1}``, a non-text verbalizer.
    """
    known = set(Pattern.__dataclass_fields__)
    unknown = sorted(set(spec) - known)
    if unknown:
        raise PatternError(f"{where}: unknown field(s) {unknown}; a pattern has {sorted(known)}")
    for name in ("name", "template"):
        if not isinstance(spec.get(name), str) or not spec[name]:
            raise PatternError(f"{where}: '{name}' must be a non-empty string")
    if "{text1}" not in spec["template"]:
        raise PatternError(f"{where}: template {spec['template']!r} has no {{text1}}")
    verbalizer = spec.get("verbalizer", {YES: " Yes", NO: " No"})
    if not isinstance(verbalizer, Mapping) or not verbalizer or not all(isinstance(v, str) and v for v in verbalizer.values()):
        raise PatternError(f"{where}: verbalizer must map each label to a non-empty string, got {verbalizer!r}")
    return Pattern(spec["name"], spec["template"], str(spec.get("prefix", "")), {str(k): v for k, v in verbalizer.items()},
                   bool(spec.get("chat", False)), str(spec.get("separator", SEPARATOR)))


def resolve(pattern: str | Pattern | Mapping[str, Any]) -> Pattern:
    """A pattern by name, as given, or from its dict form.

    Raises:
        PatternError: an unknown name (the message lists the known ones).
    """
    if isinstance(pattern, Pattern):
        return pattern
    if isinstance(pattern, Mapping):
        return pattern_from_dict(pattern)
    if pattern not in PATTERNS:
        raise PatternError(f"unknown pattern {pattern!r}; built in: {', '.join(PATTERNS)} (or give a dict)")
    return PATTERNS[pattern]


def label_tokens(pattern: Pattern, tokenizer: Any) -> dict[str, int]:
    """Label -> token id of its verbalizer, checked to be exactly one token.

    Raises:
        PatternError: naming the pattern, the label and the verbalizer that is not one token.
    """
    ids = {}
    for label, word in pattern.verbalizer.items():
        tokens = tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(tokens) != 1:
            raise PatternError(f"pattern {pattern.name!r}: verbalizer {word!r} of label {label!r} is {len(tokens)} "
                               f"tokens of this tokenizer ({tokens}); each verbalizer must be exactly one token")
        ids[label] = tokens[0]
    if len(set(ids.values())) != len(ids):
        raise PatternError(f"pattern {pattern.name!r}: two labels share a verbalizer token ({ids})")
    return ids


def _body(pattern: Pattern, record: ClassRecord) -> str:
    try:
        return pattern.template.format(text1=record.text1, text2=record.text2 or "")
    except (KeyError, IndexError) as err:
        raise PatternError(f"pattern {pattern.name!r}: template field {err} is not text1 or text2") from None


def render(pattern: Pattern, record: ClassRecord, answer: bool) -> str:
    """One plain-text example: template, target prefix and (``answer=True``) the label's verbalizer.

    The query (``answer=False``) is exactly the demonstration with the verbalizer removed.
    """
    text = _body(pattern, record) + pattern.prefix
    verbal = pattern.verbalizer[record.label] if answer else ""
    if pattern.verbalizer and all(v.startswith(" ") for v in pattern.verbalizer.values()):
        text = text.rstrip(" ")
    return text + verbal


def _messages(pattern: Pattern, demos: Sequence[ClassRecord], query: ClassRecord | None) -> list[dict[str, str]]:
    messages = []
    for demo in demos:
        messages += [{"role": "user", "content": _body(pattern, demo)},
                     {"role": "assistant", "content": pattern.verbalizer[demo.label]}]
    if query is not None:
        messages.append({"role": "user", "content": _body(pattern, query)})
    return messages


def context(pattern: Pattern, demos: Sequence[ClassRecord], tokenizer: Any = None) -> str:
    """The demonstrations' text, shared by every query of a run (the KV-cached prefix); '' for none."""
    if not demos:
        return ""
    if pattern.chat:
        return tokenizer.apply_chat_template(_messages(pattern, demos, None), tokenize=False)
    return pattern.separator.join(render(pattern, d, answer=True) for d in demos) + pattern.separator


def query(pattern: Pattern, record: ClassRecord, demos: Sequence[ClassRecord] = (), tokenizer: Any = None) -> str:
    """The query text that follows :func:`context` of ``demos``; the answer token is predicted right after it.

    Raises:
        PatternError: a chat pattern without a tokenizer, or a chat template that does not render the
            demonstrations as a prefix of the whole conversation.
    """
    if not pattern.chat:
        return render(pattern, record, answer=False)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise PatternError(f"pattern {pattern.name!r} uses the chat template: pass a tokenizer that has one")
    full = tokenizer.apply_chat_template(_messages(pattern, demos, record), tokenize=False, add_generation_prompt=True)
    head = context(pattern, demos, tokenizer)
    if not full.startswith(head):
        raise PatternError(f"pattern {pattern.name!r}: the chat template does not render the demonstrations as a prefix")
    return full[len(head):]


def prompt(pattern: Pattern, demos: Sequence[ClassRecord], record: ClassRecord, tokenizer: Any = None) -> str:
    """The whole prompt of one query: :func:`context` then :func:`query`."""
    return context(pattern, demos, tokenizer) + query(pattern, record, demos, tokenizer)


def training_example(pattern: Pattern, record: ClassRecord, tokenizer: Any = None) -> dict[str, Any]:
    """The PBFT example of ``record``: the zero-shot query and its verbalizer, no eos (loss on that token only)."""
    return {"prompt": query(pattern, record, (), tokenizer), "completion": pattern.verbalizer[record.label], "eos": False}
