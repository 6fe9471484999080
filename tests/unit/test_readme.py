"""The README cannot drift from the code: every config key the parser accepts is in the
"Configuration reference" tables (and nothing else is), each documented default is the parser's
default for both presets, and every stack output is in the "Stack outputs" table.

Keys and defaults are read from the parser itself: every `Reader` accessor call is recorded while
minimal configs of each preset are parsed (only the required keys set), so a key added to the
parser without a README row fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components.settings import parse as parse_module
from components.settings.model import ROLE_KEYS
from components.settings.parse import TOP_LEVEL_KEYS
from components.settings.reader import Reader
from scripts.program import PLACEHOLDER_SECRETS, run_program
from tests.unit.helpers import STACKS, config

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
# Defaults derived from other settings (hosts, domain, stack): the README describes the rule.
DERIVED = {
    "acmeEmail": "admin@<domain>",
    "postgres.maxConnections": "memoryMb/32",
    "postgres.etcdWitness": "the monitoring VM when the number of postgres VMs is even",
    "redis.maxmemoryMb": "half the VM",
    "redis.quorum": "a majority of the Sentinels",
    "hosts.<role>[].memoryMb": "per role and preset",
    "hosts.<role>[].cpus": "per role and preset",
    "hosts.<role>[].publicIp": "`privateIp`",
    "s3.buckets.nextcloud": "`platform-<stack>-nextcloud`",
    "s3.buckets.backups": "`platform-<stack>-backups`",
    "s3.buckets.appBackups": "`platform-<stack>-app-backups`",
    "monitoring.smtp.from": "`alertmanager@<domain>`",
    "apps.<app>.enabled": "`k3s.enabled`",
    "apps.<app>.hostname": "`<app>.<domain>`",
    "apps.adminEmail": "`acmeEmail`",
    "mariadb.enabled": "true when Mautic is enabled",
    "mariadb.maxConnections": "memoryMb/32 of the smallest database VM, 100-500",
    "mariadb.bufferPoolMb": "an eighth of the smallest database VM, at least 128",
    "k3s.apiEndpoint": "the first server's publicIp",
    "k3s.nodeNetwork": "the /24 of the first server's publicIp",
}


def normalize(path: str) -> str:
    path = re.sub(r"^hosts\.\w+\[\d+\]", "hosts.<role>[]", path)
    path = re.sub(r"\[\d+\]$", "", path)
    path = re.sub(r"^apps\.(nextcloud|odoo|keycloak|mautic)\b", "apps.<app>", path)
    return path


class Recorder:
    """Wraps the Reader's accessors: container paths, leaf paths, and the default each leaf got."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.containers: set[str] = set()
        self.leaves: dict[str, Any] = {}
        rec = self
        orig_obj = Reader.obj

        def obj(self: Reader, path: str, value: Any, allowed: Any) -> Any:
            allowed = tuple(allowed)
            rec.containers.add(normalize(path))
            for k in allowed:
                rec.leaves.setdefault(normalize(f"{path}.{k}"), None)
            return orig_obj(self, path, value, allowed)

        monkeypatch.setattr(Reader, "obj", obj)
        for name in ("string", "integer", "boolean", "string_list"):
            self._wrap(monkeypatch, name)
        orig_map, orig_cidr = Reader.string_map, Reader.cidr

        def string_map(self: Reader, path: str, value: Any, *a: Any, **kw: Any) -> Any:
            if value is None:
                rec.leaves[normalize(path)] = {}
            return orig_map(self, path, value, *a, **kw)

        def cidr(self: Reader, path: str, value: Any, *a: Any, **kw: Any) -> Any:
            out = orig_cidr(self, path, value, *a, **kw)
            if not re.search(r"\[\d+\]$", path):  # k3s.*Cidr: the minimal configs never set them
                rec.leaves[normalize(path)] = out
            return out

        monkeypatch.setattr(Reader, "string_map", string_map)
        monkeypatch.setattr(Reader, "cidr", cidr)

    def _wrap(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        orig = getattr(Reader, name)
        rec = self

        def accessor(self: Reader, path: str, value: Any, default: Any, *a: Any, **kw: Any) -> Any:
            if value is None:
                rec.leaves[normalize(path)] = default
            return orig(self, path, value, default, *a, **kw)

        monkeypatch.setattr(Reader, name, accessor)


def minimal(stack: str) -> dict[str, Any]:
    full = config(stack)
    keep = {"preset": full["preset"], "domain": full["domain"], "hosts": full["hosts"],
            "ssh": {"adminSources": full["ssh"]["adminSources"]}, "s3": {"endpoint": full["s3"]["endpoint"]},
            # An optional block's required key, so that its other keys' defaults are seen too.
            "monitoring": {"smtp": {"smarthost": "mail.example.com:25"}},
            **PLACEHOLDER_SECRETS}
    if full.get("router"):
        keep["router"] = full["router"]
    if full.get("k3s", {}).get("enabled") is False:
        keep["k3s"] = {"enabled": False}
    return keep


@pytest.fixture(scope="module")
def recorded() -> dict[str, tuple[set[str], dict[str, Any]]]:
    out = {}
    for stack in ("mvp", "prod-ha"):
        mp = pytest.MonkeyPatch()
        try:
            r = Recorder(mp)
            parse_module.parse_settings(minimal(stack), stack)
            out[stack] = (r.containers, dict(r.leaves))
        finally:
            mp.undo()
    return out


def section(title: str, end: str) -> str:
    return README.split(title, 1)[1].split(end, 1)[0]


def documented_rows() -> dict[str, list[str]]:
    """First-column key -> the row's cells, for every table of the configuration reference."""
    rows = {}
    for line in section("## Configuration reference", "## Stack outputs").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        m = re.fullmatch(r"`([^`]+)`", cells[0]) if line.startswith("| `") else None
        if m:
            rows[m.group(1)] = cells
    return rows


def test_every_accepted_key_is_documented_and_nothing_else(recorded) -> None:  # type: ignore[no-untyped-def]
    rows = documented_rows()
    containers = recorded["mvp"][0] | recorded["prod-ha"][0]
    accepted = {k for stack in recorded.values() for k in stack[1]} - containers - {"hosts.<role>[]"}
    accepted |= {f"hosts.{r}" for r in ROLE_KEYS}
    accepted |= set(TOP_LEVEL_KEYS) - {c for c in containers if "." not in c}
    missing = sorted(accepted - set(rows))
    unknown = sorted(set(rows) - accepted)
    assert missing == [], f"accepted by the parser, not in the README tables: {missing}"
    assert unknown == [], f"in the README tables, not accepted by the parser: {unknown}"


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, (tuple, list)):
        return "`[" + ", ".join(value) + "]`"
    if isinstance(value, dict):
        return "`{}`"
    raise TypeError(value)


def test_documented_defaults_are_the_parsers(recorded) -> None:  # type: ignore[no-untyped-def]
    rows = documented_rows()
    mvp, ha = recorded["mvp"][1], recorded["prod-ha"][1]
    wrong = []
    for key, cells in rows.items():
        if key.startswith("hosts.") and "[]" not in key:
            continue  # the role table has counts, not defaults
        default = cells[2]
        if key in DERIVED:
            if DERIVED[key] not in default:
                wrong.append(f"{key}: README says {default!r}, should describe {DERIVED[key]!r}")
            continue
        a, b = mvp.get(key), ha.get(key)
        if a in (None, "") and b in (None, ""):
            if not default.startswith(("required", "none")):
                wrong.append(f"{key}: no default in the parser, README says {default!r}")
            continue
        want = fmt(a) if a == b else f"{fmt(a)} / {fmt(b)}"
        if default != want:
            wrong.append(f"{key}: README says {default!r}, the parser's default is {want!r}")
    assert wrong == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_output_is_documented(stack: str) -> None:
    table = section("## Stack outputs", "\n## ")
    documented = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            documented |= set(re.findall(r"`([A-Za-z0-9]+)`", line.split(" | ")[0]))
    outputs = set(run_program(stack, config(stack)).outputs)
    assert outputs - documented == set(), f"outputs not in the README: {sorted(outputs - documented)}"
    # Documented but absent where a feature is off (Grafana and MariaDB in the lab).
    assert documented - outputs <= {"monitoringAlertmanagerUrl", "monitoringPrometheusUrl", "grafanaUrl",
                                    "grafanaAdminPassword", "mariadbRouter", "mariadbMautic",
                                    "mariadbScrapeTargets", "k3sApiEndpoint", "kubeconfig",
                                    "k3sScrapeTargets", "appUrls", "appAdmins", "appProbeTargets"} | outputs
