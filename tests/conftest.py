"""Shared fixtures. Ray and matplotlib write into temporary folders, never $HOME."""

from __future__ import annotations

import os
import tempfile

import matplotlib

matplotlib.use("Agg")

_TMP = tempfile.mkdtemp(prefix="rayprice-tests-")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_TMPDIR", os.path.join(_TMP, "ray"))
os.environ.setdefault("TUNE_RESULT_DIR", os.path.join(_TMP, "ray_results"))
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_TMP, "mpl"))
