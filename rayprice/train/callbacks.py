"""RLlib callbacks: the held-out check runs inside the Algorithm.

:class:`HeldoutEvalCallback` scores the current policy on held-out markets from
``on_train_result``, so ``rayprice train`` and every Tune trial report the same
keys (:data:`~rayprice.train.evaluation.EVAL_ORACLE_RATIO`,
:data:`~rayprice.train.evaluation.EVAL_META_VALUE`,
:data:`~rayprice.train.evaluation.EVAL_FLAT_RATIO`) in the Algorithm's result.

A callback and not ``custom_evaluation_function``: RLlib's evaluation hook runs
on evaluation EnvRunners with its own schedule and reports under
``evaluation/``, while this check replays the harness's held-out markets
(common random numbers with the oracle and the reference pricers) on a bundle
written from the learner's weights; it needs no EnvRunner, and the result keys
stay where ``history.jsonl`` and the Tune metric expect them.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

from rayprice.train.evaluation import EVAL_ITERATION, HeldoutEvaluator
from rayprice.train.settings import TrainSettings

logger = logging.getLogger(__name__)


class HeldoutEvalCallback(RLlibCallback):
    """Adds held-out scores to the Algorithm's result on a schedule.

    RLlib builds one instance per Algorithm with no arguments; bind the
    arguments with ``functools.partial`` (see :func:`eval_callback`). The
    evaluator (reference pricers and oracle on the held-out markets) is built on
    first use, once per Algorithm.

    Args:
        settings: the run's settings (``eval_every``, ``eval_markets``,
            ``eval_suite``, ``eval_ray_tasks``; ``iterations`` marks the final
            check).
        folder: where the policy is written as a bundle for each check; a
            temporary folder when ``None``.
        every_result: put the latest scores in every result (Tune needs its
            metric in each result); the first iteration is then checked too.
    """

    def __init__(
        self,
        settings: TrainSettings,
        folder: Path | None = None,
        every_result: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.folder = folder
        self.every_result = every_result
        self.latest: dict[str, float] = {}
        #: Wall time of the latest check, seconds (its share of the iteration).
        self.seconds = 0.0
        self._evaluator: HeldoutEvaluator | None = None
        self._tmp: str | None = None

    def due(self, iteration: int) -> bool:
        """Whether the check runs after ``iteration``."""
        every = self.settings.eval_every
        if every <= 0:
            return False
        return (
            iteration % every == 0
            or iteration == self.settings.iterations
            or (self.every_result and iteration == 1)
        )

    def evaluate(self, algorithm: Any, iteration: int) -> dict[str, float]:
        """Score the Algorithm's current policy now; returns the ``eval/`` keys."""
        from rayprice.train.run import snapshot_bundle

        if self._evaluator is None:
            tick = time.perf_counter()
            suite = self.settings.eval_suite or self.settings.family
            self._evaluator = HeldoutEvaluator(
                suite,
                self.settings.eval_markets,
                ray_tasks=self.settings.eval_ray_tasks,
            )
            logger.info(
                "held-out references planned in %.1f s", time.perf_counter() - tick
            )
        tick = time.perf_counter()
        snapshot_bundle(algorithm, self.settings, self._bundle_folder())
        scores = self._evaluator.score(self._bundle_folder())
        self.latest = {**scores, EVAL_ITERATION: float(iteration)}
        self.seconds = time.perf_counter() - tick
        logger.info(
            "held-out evaluation at iteration %d in %.1f s: %s",
            iteration,
            self.seconds,
            scores,
        )
        return dict(self.latest)

    def on_train_result(
        self,
        *,
        algorithm: Any,
        metrics_logger: Any = None,
        result: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        """Add the scores to ``result`` when a check is due (or always, the
        latest ones, with ``every_result``)."""
        iteration = int(result.get("training_iteration", 0))
        if self.due(iteration):
            result.update(self.evaluate(algorithm, iteration))
        elif self.every_result and self.latest:
            result.update(self.latest)

    def _bundle_folder(self) -> Path:
        if self.folder is not None:
            return self.folder
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="rayprice-eval-")
        return Path(self._tmp) / "bundle"

    def __del__(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def find_eval_callback(algorithm: Any) -> HeldoutEvalCallback | None:
    """The Algorithm's :class:`HeldoutEvalCallback`, if it has one."""
    callbacks = algorithm.callbacks
    if not isinstance(callbacks, list):
        callbacks = [callbacks]
    for callback in callbacks:
        if isinstance(callback, HeldoutEvalCallback):
            return callback
    return None
