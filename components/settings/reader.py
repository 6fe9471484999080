"""A small reader that turns untyped config values into typed ones while collecting problems.

Every accessor returns a usable default when the value is bad, so that one pass over the whole
configuration reports every problem at once instead of stopping at the first.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from components.cron import cron_to_oncalendar

T = TypeVar("T")

NAMESPACE = "platform"

# Every string ends up in a host file, a unit, a command's environment or a URL: a newline would
# add a line to pgbackrest.conf or s3cfg (config injection), other control characters corrupt it.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MULTILINE_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # PEM blocks: newlines only

ADDRESS_RULE = "an IPv4 unicast address (IPv6 is not supported: etcd URLs, pg_hba and the firewall are IPv4)"


def control_problem(value: str, multiline: bool = False) -> str | None:
    """Why `value` may not land in a host file, or None. Never repeats the value (it may be secret)."""
    m = (MULTILINE_CONTROL_RE if multiline else CONTROL_RE).search(value)
    if m is None:
        return None
    return f"contains a control character ({m.group()!r} at offset {m.start()}); not allowed in any value"


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
        multiline: bool = False,
    ) -> str:
        if value is None:
            return default
        if not isinstance(value, str) or value == "":
            self.problem(path, f"must be a non-empty string, got {value!r}")
            return default
        bad = control_problem(value, multiline)
        if bad:
            self.problem(path, bad)
            return default
        if allowed is not None and value not in allowed:
            self.problem(path, f"got {value!r}; allowed: {', '.join(allowed)}")
            return default
        if pattern is not None and not re.fullmatch(pattern, value):
            self.problem(path, f"got {value!r}; expected {what or 'a value matching ' + pattern}")
            return default
        return value

    def optional_string(self, path: str, value: Any, *, pattern: str | None = None, what: str = "",
                        multiline: bool = False) -> str | None:
        if value is None:
            return None
        return self.string(path, value, "", pattern=pattern, what=what, multiline=multiline) or None

    def required(self, path: str, value: Any, what: str) -> bool:
        """A key that must be given: missing and `null` are the same mistake."""
        if value is None:
            self.problem(path, f"is required ({what})")
            return False
        return True

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
        """A list of distinct non-empty strings (a duplicate is always a mistake: two ACL users, two
        databases of one name)."""
        if value is None:
            return tuple(default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(path, f"must be a list of non-empty strings, got {value!r}")
            return tuple(default)
        ok = True
        for i, v in enumerate(value):
            bad = control_problem(v)
            if bad:
                self.problem(f"{path}[{i}]", bad)
                ok = False
            elif v in value[:i]:
                self.problem(f"{path}[{i}]", f"duplicate entry {v!r} (also {path}[{value.index(v)}])")
                ok = False
        return tuple(value) if ok else tuple(default)

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
        """A host's address: IPv4, and one a VM can have (not 0.0.0.0, loopback, link-local,
        multicast, broadcast or reserved)."""
        if not isinstance(value, str) or control_problem(value):
            self.problem(path, f"must be {ADDRESS_RULE}, got {value!r}")
            return ""
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            self.problem(path, f"{value!r} is not {ADDRESS_RULE}")
            return ""
        if addr.version != 4:
            self.problem(path, f"{value!r} is IPv6; expected {ADDRESS_RULE}")
            return ""
        kind = ("unspecified" if addr.is_unspecified else "loopback" if addr.is_loopback
                else "link-local" if addr.is_link_local else "multicast" if addr.is_multicast
                else "broadcast" if addr == ipaddress.IPv4Address("255.255.255.255")
                else "reserved" if addr.is_reserved else "")
        if kind:
            self.problem(path, f"{value!r} is a {kind} address; expected {ADDRESS_RULE}")
            return ""
        return str(addr)

    def cidr(self, path: str, value: Any) -> str:
        """An IPv4 address or CIDR block (IPv6 is refused like host addresses are)."""
        if not isinstance(value, str) or control_problem(value):
            self.problem(path, f"must be an IPv4 address or CIDR block, got {value!r}")
            return ""
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError:
            self.problem(path, f"{value!r} is not a valid IPv4 address or CIDR block (host bits must be zero)")
            return ""
        if net.version != 4:
            self.problem(path, f"{value!r} is IPv6; only IPv4 is supported")
            return ""
        return str(net)


NAME_RE = r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?"  # a DNS label: no trailing hyphen, at most 63
NAME_WHAT = "a lower-case DNS label (letters, digits, '-'; starts with a letter, does not end with '-'; <= 63)"


def cron(r: Reader, path: str, value: Any, default: str) -> str:
    """A 5-field cron expression whose every field is in range (`61 * * * *` would make cron drop
    the line, and the backup would silently never run)."""
    expr = r.string(path, value, default, what="a 5-field cron expression")
    try:
        cron_to_oncalendar(expr)
    except ValueError as e:
        r.problem(path, f"got {expr!r}: {e}")
        return default
    return expr
