"""The drill registry: name -> function performing one run (see scripts/drills/common.py).

Component modules register their drills with `@drill("name")` from scripts.drills.common (or by
adding to DRILLS directly); this package imports scripts.drills.postgres and, when it exists,
scripts.drills.redis.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from scripts.drills.common import REGISTRY

DRILLS: dict[str, Callable[..., dict[str, Any]]] = REGISTRY  # type: ignore[assignment]

for _module in ("postgres", "redis", "mariadb", "monitoring", "platform"):
    try:
        importlib.import_module(f"scripts.drills.{_module}")
    except ModuleNotFoundError as _e:
        if _e.name != f"scripts.drills.{_module}":
            raise
