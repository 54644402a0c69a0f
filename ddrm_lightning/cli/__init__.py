"""The command lines: ``restore.py`` (``cli.restore``) and ``train.py`` (``cli.train``).

``args`` and ``data_args`` turn a user's command line into what LightningCLI parses (shortcuts,
data-source components, flat options of earlier releases); ``trainer`` is restore.py's Trainer
(quiet start-up); the sweep itself runs in ``sweep.run_sweep``.
"""

from .restore import SweepResult, main, run_config, sweep_config

__all__ = ["SweepResult", "main", "run_config", "sweep_config"]
