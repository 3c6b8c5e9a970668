"""Meta-training on RLlib: settings, the AlgorithmConfig, the run and its export.

:mod:`rayprice.train.settings` is light; :mod:`rayprice.train.run` and
:mod:`rayprice.train.config` import Ray and RLlib when used.
"""

from rayprice.train.settings import TrainSettings

__all__ = ["TrainSettings"]
