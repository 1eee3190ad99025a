"""``fcmatch fcm scenario`` and ``fcm review``: run a what-if scenario on a corpus map and plot it; write a
corpus map's editable merge table."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fcmatch.fcm.config import ReviewConfig, ScenarioConfig
from fcmatch.fcm.corpus import load_corpus
from fcmatch.fcm.inference import Scenario, what_if
from fcmatch.fcm.merge import corpus_clusters, write_merge_table

log = logging.getLogger(__name__)


def plot_scenario(result: Scenario, path: str | Path, top: int = 12) -> Path:
    """Two panels: the steady-state change per concept (largest |change| first) and the scenario's
    trajectories of those concepts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from fcmatch.data.formats import atomic_write

    delta = result.delta
    order = [i for i in np.argsort(-np.abs(delta)) if result.names[i] not in result.clamp][:top]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    names = [result.names[i][:32] for i in order]
    left.barh(names[::-1], delta[order][::-1], color=["#2e7d32" if d >= 0 else "#c62828" for d in delta[order][::-1]])
    left.axvline(0, color="#555", lw=0.8)
    left.set_xlabel("steady state: scenario - baseline")
    clamp = ", ".join(f"{k} = {v:g}" for k, v in result.clamp.items())
    left.set_title(f"What if {clamp}?")
    for k, i in enumerate(order[:6]):  # six lines stay readable; the bars show the rest
        color = f"C{k}"
        right.plot(result.scenario.states[:, i], color=color, label=result.names[i][:32])
        right.plot(result.baseline.states[:, i], color=color, ls="--", lw=0.8)
    right.set_xlabel("step")
    right.set_ylabel("activation")
    right.set_title(f"scenario (solid): {result.scenario.outcome} after {len(result.scenario.states) - 1} steps; "
                    f"baseline (dashed): {result.baseline.outcome}", fontsize=10)
    right.legend(fontsize=7, loc="best")
    fig.tight_layout()
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)
    plt.close(fig)
    return Path(path)


def run_scenario(config: ScenarioConfig) -> Scenario:
    """Run ``fcmatch fcm scenario``: write ``output`` (JSON), a ``.png`` beside it and the config."""
    from fcmatch.config import save_beside
    from fcmatch.data.formats import atomic_write

    corpus = load_corpus(config.corpus)
    clamp = {}
    for item in config.clamp:
        name, _, value = item.rpartition("=")
        clamp[name.strip()] = float(value)
    s = config.inference
    result = what_if(corpus, clamp, s.initial, transfer=s.transfer, rule=s.rule, steepness=s.steepness,
                     max_steps=s.max_steps, tolerance=s.tolerance)
    with atomic_write(config.output) as handle:
        json.dump(result.to_dict(), handle, ensure_ascii=False, indent=1)
    plot_scenario(result, Path(config.output).with_suffix(".png"), config.top)
    save_beside(config, config.output)
    return result


def run_review(config: ReviewConfig) -> Path:
    """Write the merge table of a corpus map (``fcmatch fcm review``); returns its path."""
    corpus = load_corpus(config.corpus)
    clusters = corpus_clusters(corpus)
    path = write_merge_table(clusters, config.table)
    log.info("%d concept clusters -> %s; edit it (rename, merge by sharing a cluster_id, split into new rows) "
             "and rebuild with fcm build --merges %s", len(clusters), path, path)
    return path
