"""Hyperparameter sweeps: train a grid of configs, decode each with a grid of settings, compare with the base.

    fcmatch sweep configs/sweep-instruct.yaml

:func:`load_sweep` reads and checks a sweep file (:mod:`fcmatch.sweep.config`), :func:`run_sweep` trains,
evaluates (:mod:`fcmatch.sweep.evaluators`), resumes and writes results.csv, figures and report.html
(:mod:`fcmatch.sweep.runner`). See docs/sweeps.md.
"""

from fcmatch.sweep.config import SweepConfig, load_sweep, sweep_from_dict
from fcmatch.sweep.evaluators import EVALUATORS
from fcmatch.sweep.runner import SweepOutcome, run_sweep

__all__ = ["EVALUATORS", "SweepConfig", "SweepOutcome", "load_sweep", "run_sweep", "sweep_from_dict"]
