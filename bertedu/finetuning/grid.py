"""The paper's fine-tuning grid (Sec. 4 and Appendix A.3): try each setting, keep the best on dev.

"The optimal hyperparameter values are task-specific, but we found the following range of possible
values to work well across all tasks: Batch size: 16, 32; Learning rate (Adam): 5e-5, 3e-5, 2e-5;
Number of epochs: 2, 3, 4" (A.3). "We also observed that large data sets (e.g., 100k+ labeled
training examples) were far less sensitive to hyperparameter choice than small data sets" (A.3).
For GLUE the paper fixes batch 32 and 3 epochs and selects only the learning rate on dev (Sec. 4.1).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from bertedu.finetuning.loop import FinetuneConfig

__all__ = ["PAPER_GRID", "GLUE_GRID", "grid_configs", "grid_search", "GridResult", "config_label"]

PAPER_GRID: dict[str, tuple] = {"batch_size": (16, 32), "lr": (5e-5, 3e-5, 2e-5), "epochs": (2, 3, 4)}  # A.3
GLUE_GRID: dict[str, tuple] = {"batch_size": (32,), "lr": (5e-5, 4e-5, 3e-5, 2e-5), "epochs": (3,)}  # Sec. 4.1


def grid_configs(base: FinetuneConfig, grid: Mapping[str, Iterable[Any]] = PAPER_GRID) -> list[FinetuneConfig]:
    """Every combination of ``grid``'s values on top of ``base`` (in the grid's order; 18 for PAPER_GRID)."""
    known = {f.name for f in dataclasses.fields(FinetuneConfig)}
    unknown = [k for k in grid if k not in known]
    if unknown:
        raise ValueError(f"grid keys {unknown} are not FinetuneConfig fields")
    keys = list(grid)
    return [dataclasses.replace(base, **dict(zip(keys, values)))
            for values in itertools.product(*(tuple(grid[k]) for k in keys))]


def config_label(config: FinetuneConfig) -> str:
    """A short folder-safe name of a grid point: ``bs32-lr3e-05-ep3``."""
    return f"bs{config.batch_size}-lr{config.lr:g}-ep{config.epochs}"


@dataclass
class GridResult:
    """All runs of a grid (``scores[i]`` belongs to ``configs[i]``) and the best one (highest score)."""

    configs: list[FinetuneConfig]
    results: list[Any]
    scores: list[float]
    best_index: int

    @property
    def best_config(self) -> FinetuneConfig:
        return self.configs[self.best_index]

    @property
    def best_result(self) -> Any:
        return self.results[self.best_index]

    def table(self) -> list[dict[str, Any]]:
        """One row per grid point: batch size, lr, epochs, score."""
        return [{"batch_size": c.batch_size, "lr": c.lr, "epochs": c.epochs, "score": s}
                for c, s in zip(self.configs, self.scores)]


def grid_search(configs: Iterable[FinetuneConfig], run: Callable[[FinetuneConfig], Any],
                score: Callable[[Any], float]) -> GridResult:
    """``run`` every config, ``score`` each result (higher is better; NaN counts as worst); ties keep the first."""
    configs = list(configs)
    if not configs:
        raise ValueError("configs is empty; give at least one FinetuneConfig (see grid_configs)")
    results, scores = [], []
    for config in configs:
        result = run(config)
        value = float(score(result))
        results.append(result)
        scores.append(-math.inf if math.isnan(value) else value)
    best = max(range(len(configs)), key=lambda i: (scores[i], -i))
    return GridResult(configs, results, scores, best)
