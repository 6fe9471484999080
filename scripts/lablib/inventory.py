"""The lab's host list, read from `Pulumi.lab.yaml` (`platform:hosts`: role -> [{name, privateIp, ...}])."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .util import LabError, repo_root

NET = ipaddress.ip_network("198.18.0.0/24")
GATEWAY = "198.18.0.1"  # the real machine, on the lab bridge
STACK_FILE = "Pulumi.lab.yaml"

# Used until Pulumi.lab.yaml exists (and for tests of this layer).
DEFAULT_HOSTS: tuple[tuple[str, str, str], ...] = (
    ("db-1", "198.18.0.11", "postgres"),
    ("db-2", "198.18.0.12", "postgres"),
    ("redis-1", "198.18.0.21", "redis"),
    ("redis-2", "198.18.0.22", "redis"),
    ("redis-3", "198.18.0.23", "redis"),
    ("mon-1", "198.18.0.31", "monitoring"),
    ("edge-1", "198.18.0.41", "edge"),
)

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")


@dataclass(frozen=True)
class LabHost:
    name: str
    ip: str
    role: str


def stack_file(stack: str = "lab") -> Path:
    return repo_root() / f"Pulumi.{stack}.yaml"


def hosts(stack: str = "lab") -> list[LabHost]:
    """Lab hosts in file order. Validates names and addresses; raises LabError listing every problem."""
    path = stack_file(stack)
    if not path.exists():
        return [LabHost(n, ip, r) for n, ip, r in DEFAULT_HOSTS]
    doc = yaml.safe_load(path.read_text()) or {}
    raw = (doc.get("config") or {}).get("platform:hosts")
    if raw is None:
        return [LabHost(n, ip, r) for n, ip, r in DEFAULT_HOSTS]
    problems: list[str] = []
    out: list[LabHost] = []
    if not isinstance(raw, dict):
        raise LabError(f"{path.name}: platform:hosts must be a mapping role -> list of hosts")
    for role, items in raw.items():
        if not isinstance(items, list):
            problems.append(f"platform:hosts.{role}: must be a list")
            continue
        for i, item in enumerate(items):
            where = f"platform:hosts.{role}[{i}]"
            if not isinstance(item, dict):
                problems.append(f"{where}: must be a mapping with name and privateIp")
                continue
            name = str(item.get("name", ""))
            ip = str(item.get("privateIp") or item.get("publicIp") or "")
            if not _NAME.fullmatch(name):
                problems.append(f"{where}.name: {name!r} is not a lab host name ([a-z0-9-], max 31)")
            try:
                addr = ipaddress.ip_address(ip)
                if addr not in NET or str(addr) in (GATEWAY, str(NET.network_address), str(NET.broadcast_address)):
                    problems.append(f"{where}.privateIp: {ip} must be a host address in {NET} other than {GATEWAY}")
            except ValueError:
                problems.append(f"{where}.privateIp: {ip!r} is not an IP address")
            out.append(LabHost(name, ip, str(role)))
    for attr in ("name", "ip"):
        seen: set[str] = set()
        for h in out:
            v = getattr(h, attr)
            if v in seen:
                problems.append(f"platform:hosts: duplicate {attr} {v}")
            seen.add(v)
    if problems:
        raise LabError(f"{path.name}:\n  " + "\n  ".join(problems))
    return out


def find_host(name_or_ip: str, stack: str = "lab") -> LabHost:
    for h in hosts(stack):
        if name_or_ip in (h.name, h.ip, f"{h.name}.lab"):
            return h
    raise LabError(f"no lab host named {name_or_ip!r} (have: {', '.join(h.name for h in hosts(stack))})")
