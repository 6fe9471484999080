"""A small reader that turns untyped config values into typed ones while collecting problems.

Every accessor returns a usable default when the value is bad, so that one pass over the whole
configuration reports every problem at once instead of stopping at the first.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

NAMESPACE = "platform"


class SettingsError(ValueError):
    """Raised with every configuration problem found; nothing has been registered yet."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s):\n{lines}")


def key_name(path: str) -> str:
    """`postgres.ttl` -> `platform:postgres.ttl`, the spelling users type in `pulumi config`."""
    return f"{NAMESPACE}:{path}"


class Reader:
    """Typed access to nested config values; each bad value becomes one problem naming its key."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{key_name(path)}: {message}")

    def obj(self, path: str, value: Any, allowed: Iterable[str]) -> Mapping[str, Any]:
        """A mapping whose keys must all be in `allowed`: typos must not pass silently."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be an object, got {type(value).__name__}")
            return {}
        allowed_set = set(allowed)
        for k in value:
            if k not in allowed_set:
                self.problem(
                    f"{path}.{k}",
                    f"unknown key {k!r}; allowed keys: {', '.join(sorted(allowed_set))}",
                )
        return value

    def string(
        self,
        path: str,
        value: Any,
        default: str,
        *,
        pattern: str | None = None,
        allowed: Sequence[str] | None = None,
        what: str = "",
    ) -> str:
        if value is None:
            return default
        if not isinstance(value, str) or value == "":
            self.problem(path, f"must be a non-empty string, got {value!r}")
            return default
        if allowed is not None and value not in allowed:
            self.problem(path, f"got {value!r}; allowed: {', '.join(allowed)}")
            return default
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(path, f"got {value!r}; expected {what or 'a value matching ' + pattern}")
            return default
        return value

    def optional_string(self, path: str, value: Any) -> str | None:
        if value is None:
            return None
        return self.string(path, value, "")  or None

    def integer(self, path: str, value: Any, default: int, *, lo: int, hi: int) -> int:
        if value is None:
            return default
        # Pulumi hands scalar config over as strings; accept "20" as well as 20, never 20.5 or true.
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"must be an integer from {lo} to {hi}, got {value!r}")
            return default
        if not lo <= value <= hi:
            self.problem(path, f"got {value}; allowed: {lo} to {hi}")
            return default
        return value

    def boolean(self, path: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        if not isinstance(value, bool):
            self.problem(path, f"must be true or false, got {value!r}")
            return default
        return value

    def string_list(self, path: str, value: Any, default: Sequence[str]) -> tuple[str, ...]:
        if value is None:
            return tuple(default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(path, f"must be a list of non-empty strings, got {value!r}")
            return tuple(default)
        return tuple(value)

    def string_map(self, path: str, value: Any, allowed_values: Sequence[str]) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.problem(path, f"must be an object, got {type(value).__name__}")
            return {}
        out: dict[str, str] = {}
        for k, v in value.items():
            if v not in allowed_values:
                self.problem(f"{path}.{k}", f"got {v!r}; allowed: {', '.join(allowed_values)}")
            else:
                out[str(k)] = str(v)
        return out

    def ip(self, path: str, value: Any) -> str:
        if not isinstance(value, str):
            self.problem(path, f"must be an IPv4 or IPv6 address, got {value!r}")
            return ""
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            self.problem(path, f"{value!r} is not a valid IP address")
            return ""

    def cidr(self, path: str, value: Any) -> str:
        if not isinstance(value, str):
            self.problem(path, f"must be an address or CIDR block, got {value!r}")
            return ""
        try:
            return str(ipaddress.ip_network(value, strict=True))
        except ValueError:
            self.problem(path, f"{value!r} is not a valid address or CIDR block (host bits must be zero)")
            return ""
