"""Composition of the whole platform from settings; `__main__.py` only exports what this returns.

Kept apart from `__main__.py` so the tests, `scripts/render` and the lab run exactly the same
composition under mocks.
"""

from __future__ import annotations

from typing import Any

from components.baseline import HostBaseline
from components.firewall import ServicePort, baseline_ports, firewall_matrix
from components.settings import Settings


def service_ports(settings: Settings) -> list[ServicePort]:
    """Every port the platform listens on, from every component, for the firewall matrix."""
    return baseline_ports(settings)


def build_platform(settings: Settings) -> dict[str, Any]:
    matrix = firewall_matrix(settings, service_ports(settings))
    baselines = {
        h.name: HostBaseline(settings, h, matrix[h.name]) for h in settings.hosts.all()
    }
    return {
        "preset": settings.preset,
        "hosts": {
            h.name: {"role": h.role, "privateIp": h.private_ip, "publicIp": h.public_ip}
            for h in settings.hosts.all()
        },
        "sshUser": settings.ssh.user,
        "baselineReady": sorted(baselines),
    }
