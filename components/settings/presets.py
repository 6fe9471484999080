"""Sizing presets: the defaults that `preset: mvp | prod-ha` selects. Every value can be
overridden by an explicit config key (README, "Configuration reference"). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Sizing defaults; every field can be overridden by an explicit config key."""

    min_hosts: Mapping[str, int]  # role key -> hosts needed when the role is needed at all
    memory_mb: Mapping[str, int]  # role key -> default VM memory
    cpus: Mapping[str, int]  # role key -> default VM cpus
    postgres_synchronous: bool


PRESETS: dict[str, Preset] = {
    "mvp": Preset(
        min_hosts={"k3sServers": 1, "postgres": 1, "redis": 1, "monitoring": 1},
        memory_mb={"k3sServers": 8192, "k3sAgents": 8192, "postgres": 4096, "redis": 2048,
                   "monitoring": 4096, "edge": 1024},
        cpus={"k3sServers": 4, "k3sAgents": 4, "postgres": 2, "redis": 1, "monitoring": 2, "edge": 1},
        postgres_synchronous=False,
    ),
    "prod-ha": Preset(
        min_hosts={"k3sServers": 3, "postgres": 2, "redis": 3, "monitoring": 1},
        memory_mb={"k3sServers": 8192, "k3sAgents": 16384, "postgres": 8192, "redis": 4096,
                   "monitoring": 8192, "edge": 2048},
        cpus={"k3sServers": 4, "k3sAgents": 8, "postgres": 4, "redis": 2, "monitoring": 4, "edge": 2},
        postgres_synchronous=True,
    ),
}
