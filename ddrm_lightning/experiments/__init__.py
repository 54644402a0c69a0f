"""Experiments built from several restore.py sweeps (see docs/evaluation.md).

``priors``: the less-informed prior experiment — one degraded set, several priors, one table
(``python -m ddrm_lightning.experiments.priors``; ``from ddrm_lightning.experiments.priors import
run_prior_experiment``). The runner is not imported here so that ``-m`` runs it exactly once.
"""

from .config import (
    GiqaSettings,
    PriorEntry,
    PriorExperiment,
    load_experiment,
    parse_experiment,
)
from .same_inputs import degraded_mismatches

__all__ = ["GiqaSettings", "PriorEntry", "PriorExperiment", "degraded_mismatches", "load_experiment", "parse_experiment"]
