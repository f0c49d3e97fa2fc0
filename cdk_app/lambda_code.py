"""Pure modules of a Lambda's code, imported at synth time: one definition for both sides.

The alerter's threshold rules (`lambdas/alerter/alerter/thresholds.py`, standard library only)
check the context's `alertThresholds` when the app is synthesized, so a bad set fails `cdk synth`
with the same message the Lambda and the thresholds CLI would give.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from cdk_app.secure_defaults import LAMBDAS


def lambda_module(function: str, module: str) -> ModuleType:
    """`module` (e.g. `alerter.thresholds`) from `lambdas/<function>/`."""
    folder = str(LAMBDAS / function)
    if folder not in sys.path:
        sys.path.append(folder)
    return importlib.import_module(module)
