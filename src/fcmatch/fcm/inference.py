"""Fuzzy-cognitive-map inference: the standard update, steady-state detection and what-if scenarios.

Conventions (Kosko 1986; the rule names of the R package ``fcm``, Dikopoulou & Papageorgiou, CRAN):
``W[i, j]`` in [-1, 1] is the influence of concept i on concept j and ``A`` the activation row vector.

- ``kosko``:     A(t+1) = f(A(t) W)
- ``modified``:  A(t+1) = f(A(t) + A(t) W)           (each concept keeps its own memory)
- ``rescaled``:  A(t+1) = f((2A(t) - 1) + (2A(t) - 1) W)

Transfer functions: ``sigmoid`` 1 / (1 + exp(-lambda x)) in (0, 1); ``tanh`` tanh(lambda x) in (-1, 1);
``bivalent`` 1 if x > 0 else 0; ``trivalent`` sign(x). A clamped concept is reset to its value after
every step. The run ends at a fixed point (largest change <= tolerance), at a limit cycle (the state equals
one p steps earlier, 2 <= p <= max_period), or after ``max_steps`` without either, which is reported as
``chaotic`` (no attractor found in the budget, the usual operational definition).

Written here rather than taken from fcmpy: fcmpy 0.0.21 pins pandas==1.3.3, which does not install beside
this project's locked pandas (see docs/corpus-maps.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fcmatch.fcm.corpus import CorpusMap

Transfer = Callable[[np.ndarray, float], np.ndarray]


def sigmoid(x: np.ndarray, steepness: float = 1.0) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-steepness * x))


def tanh(x: np.ndarray, steepness: float = 1.0) -> np.ndarray:
    return np.tanh(steepness * x)


def bivalent(x: np.ndarray, steepness: float = 1.0) -> np.ndarray:
    return (x > 0).astype(np.float64)


def trivalent(x: np.ndarray, steepness: float = 1.0) -> np.ndarray:
    return np.sign(x).astype(np.float64)


TRANSFERS: dict[str, Transfer] = {"sigmoid": sigmoid, "tanh": tanh, "bivalent": bivalent, "trivalent": trivalent}


def _kosko(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a @ w


def _modified(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return a + a @ w


def _rescaled(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    r = 2.0 * a - 1.0
    return r + r @ w


RULES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "kosko": _kosko, "modified": _modified, "rescaled": _rescaled,
}


@dataclass
class Run:
    """One simulation.

    Attributes:
        states: (steps + 1, n) activations, the initial state first.
        outcome: ``fixed_point``, ``limit_cycle`` or ``chaotic``.
        period: 1 for a fixed point, p for a cycle, 0 for chaotic.
    """

    states: np.ndarray
    outcome: str
    period: int

    @property
    def steady(self) -> np.ndarray:
        """The fixed point, the mean over one cycle, or the last state (chaotic)."""
        if self.outcome == "limit_cycle":
            return self.states[-self.period:].mean(axis=0)
        return self.states[-1]


def weight_matrix(corpus: CorpusMap) -> tuple[list[str], np.ndarray]:
    """Concept ids and the weight matrix of a corpus map, scaled by the largest |weight| into [-1, 1].

    Returns:
        (ids, W) with ``W[i, j]`` the weight of edge ids[i] -> ids[j]; all zeros when there are no edges.
    """
    ids = list(corpus.concepts)
    index = {cid: i for i, cid in enumerate(ids)}
    w = np.zeros((len(ids), len(ids)))
    for e in corpus.edges:
        w[index[e.cause], index[e.effect]] = e.weight(corpus.weight_prior)
    top = np.abs(w).max() if w.size else 0.0
    return ids, (w / top if top > 0 else w)


def simulate(
    weights: np.ndarray,
    initial: Sequence[float] | np.ndarray,
    transfer: str = "sigmoid",
    rule: str = "modified",
    steepness: float = 1.0,
    clamp: Mapping[int, float] | None = None,
    max_steps: int = 100,
    tolerance: float = 1e-5,
    max_period: int = 20,
) -> Run:
    """Iterate the FCM update from ``initial`` until a fixed point, a limit cycle or ``max_steps``.

    Args:
        weights: (n, n) matrix, ``W[i, j]`` = influence of i on j.
        initial: n starting activations.
        transfer: a :data:`TRANSFERS` key.
        rule: a :data:`RULES` key.
        steepness: lambda of sigmoid and tanh.
        clamp: concept index -> value held fixed at every step.
        max_steps: most updates.
        tolerance: largest absolute difference that counts as "the same state".
        max_period: longest limit cycle looked for.

    Raises:
        ValueError: unknown transfer or rule, or shapes that do not fit.
    """
    if transfer not in TRANSFERS:
        raise ValueError(f"unknown transfer {transfer!r}; choose one of {', '.join(TRANSFERS)}")
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    w = np.asarray(weights, dtype=np.float64)
    a = np.asarray(initial, dtype=np.float64).copy()
    if w.ndim != 2 or w.shape[0] != w.shape[1] or a.shape != (w.shape[0],):
        raise ValueError(f"weights must be (n, n) and initial (n,), got {w.shape} and {a.shape}")
    clamp = dict(clamp or {})
    for i, v in clamp.items():
        a[i] = v
    states = [a]
    f, step = TRANSFERS[transfer], RULES[rule]
    for _ in range(max_steps):
        nxt = f(step(states[-1], w), steepness)
        for i, v in clamp.items():
            nxt[i] = v
        states.append(nxt)
        if np.max(np.abs(nxt - states[-2]), initial=0.0) <= tolerance:
            return Run(np.array(states), "fixed_point", 1)
        for p in range(2, min(max_period, len(states) - 1) + 1):
            if np.max(np.abs(nxt - states[-1 - p]), initial=0.0) <= tolerance:
                return Run(np.array(states), "limit_cycle", p)
    return Run(np.array(states), "chaotic", 0)


@dataclass
class Scenario:
    """A what-if scenario against its baseline (same settings, nothing clamped)."""

    names: list[str]
    clamp: dict[str, float]
    baseline: Run
    scenario: Run
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def delta(self) -> np.ndarray:
        """Scenario steady state minus baseline steady state, per concept."""
        return self.scenario.steady - self.baseline.steady

    def to_dict(self) -> dict[str, object]:
        rows = [{"concept": n, "baseline": round(float(b), 6), "scenario": round(float(s), 6),
                 "delta": round(float(d), 6)}
                for n, b, s, d in zip(self.names, self.baseline.steady, self.scenario.steady, self.delta, strict=True)]
        rows.sort(key=lambda r: -abs(r["delta"]))
        return {"clamp": self.clamp, "settings": self.settings,
                "baseline": {"outcome": self.baseline.outcome, "period": self.baseline.period,
                             "steps": len(self.baseline.states) - 1},
                "scenario": {"outcome": self.scenario.outcome, "period": self.scenario.period,
                             "steps": len(self.scenario.states) - 1},
                "concepts": rows}


def resolve(corpus: CorpusMap, names: Mapping[str, float]) -> dict[str, float]:
    """Clamp keys given as concept ids, canonical names or surface forms -> concept ids.

    Raises:
        ValueError: a key that names no concept.
    """
    from fcmatch.data.causal_map import normalize_concept

    lookup = {}
    for c in corpus.concepts.values():
        for form in c.forms:
            lookup.setdefault(normalize_concept(form), c.id)
        lookup[normalize_concept(c.name)] = c.id
        lookup[c.id] = c.id
    out = {}
    for key, value in names.items():
        hit = lookup.get(key) or lookup.get(normalize_concept(key))
        if hit is None:
            raise ValueError(f"--clamp {key!r}: no concept has that id, name or surface form")
        out[hit] = float(value)
    return out


def what_if(corpus: CorpusMap, clamp: Mapping[str, float], initial: float = 0.5, **settings: object) -> Scenario:
    """Clamp concepts of a corpus map and compare the steady state with the unclamped baseline.

    Args:
        corpus: the corpus map (its weights scaled into [-1, 1] by :func:`weight_matrix`).
        clamp: concept (id, name or surface form) -> held value.
        initial: every concept's starting activation.
        **settings: passed to :func:`simulate` (transfer, rule, steepness, max_steps, tolerance).

    Raises:
        ValueError: an unknown concept or setting.
    """
    ids, w = weight_matrix(corpus)
    held = resolve(corpus, clamp)
    index = {cid: i for i, cid in enumerate(ids)}
    start = np.full(len(ids), float(initial))
    baseline = simulate(w, start, **settings)  # type: ignore[arg-type]
    scenario = simulate(w, start, clamp={index[c]: v for c, v in held.items()}, **settings)  # type: ignore[arg-type]
    names = [corpus.name(c) for c in ids]
    return Scenario(names, {corpus.name(c): v for c, v in held.items()}, baseline, scenario,
                    {"initial": initial, **settings})
