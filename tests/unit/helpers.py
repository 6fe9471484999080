"""Shared helpers for unit tests: valid configs to mutate, and program runs under mocks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.settings import PRESETS, Settings, parse_settings
from components.settings.reader import SettingsError
from scripts.program import PLACEHOLDER_SECRETS, DryMocks, stack_config

STACKS = ("mvp", "prod-ha", "lab")


def config(stack: str = "prod-ha", **overrides: Any) -> dict[str, Any]:
    """The stack file's config plus placeholder secrets, with top-level keys overridden."""
    cfg = copy.deepcopy(stack_config(stack))
    cfg.update(PLACEHOLDER_SECRETS)
    cfg.update(overrides)
    return cfg


def settings(stack: str = "prod-ha", **overrides: Any) -> Settings:
    return parse_settings(config(stack, **overrides), stack)


def problems(cfg: dict[str, Any], stack: str = "prod-ha") -> list[str]:
    with pytest.raises(SettingsError) as e:
        parse_settings(cfg, stack)
    return e.value.problems


class CountingMocks(DryMocks):
    """Counts registrations: a refused config must register none."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def new_resource(self, args):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().new_resource(args)


assert set(PRESETS) == {"mvp", "prod-ha"}
