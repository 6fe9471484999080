"""Property: whatever a user does to a stack config (deletes a key, changes a type, nulls a value,
duplicates a list entry, injects a newline or control character, writes an extreme number), the
program either refuses it cleanly, naming a key, with no resource registered, or renders host
files that all pass the real-tool checks (tests/unit/hostfiles.py). Never a traceback.

Two bounded runs: a few hundred mutations through the validator alone (milliseconds each), and a
smaller number through the whole program under mocks with every host file checked (about a second
each, the real tools included)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.settings import parse_settings
from components.settings.load import StackConfigError
from components.settings.reader import SettingsError
from scripts.program import PLACEHOLDER_SECRETS, run_program
from tests.unit.helpers import STACKS, CountingMocks, config
from tests.unit.hostfiles import INJECTED, broken_files, check_file

BASES = {s: config(s) for s in STACKS}
PROBLEM_RE = re.compile(r"platform:[A-Za-z][A-Za-z0-9_.<>\[\]-]*: \S")

Path = tuple[str | int, ...]


def paths(node: Any, prefix: Path = ()) -> list[Path]:
    """Every key and list index of a config tree (containers included)."""
    out: list[Path] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((*prefix, i))
            out += paths(v, (*prefix, i))
    return out


PATHS = {s: [p for p in paths(c) if p[0] not in PLACEHOLDER_SECRETS] for s, c in BASES.items()}

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", " ", "none", "true", "-1", "0", "99999999999", "a" * 300, "db-1", "mon-1",
                     "10.0.1.11", "0.0.0.0", "127.0.0.1", "2001:db8::1", "10.0.0.0/8", "0.0.0.0/0",
                     "61 * * * *", "*/0 * * * *", "https://s3.example.com/path", "transaction",
                     "ssh-ed25519 AAAA", "x@y.z"]),
    st.lists(st.sampled_from(["a", "a", "nextcloud", 1, None]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "name", "enabled"]), st.integers(0, 3), max_size=2),
)
OPS = ("delete", "set", "null", "inject", "control", "duplicate", "extreme")


def get(node: Any, path: Path) -> Any:
    for p in path:
        node = node[p]
    return node


def mutate(cfg: dict[str, Any], path: Path, op: str, value: Any) -> None:
    parent = get(cfg, path[:-1])
    leaf = path[-1]
    current = parent[leaf]
    if op == "delete":
        del parent[leaf]
    elif op == "null":
        parent[leaf] = None
    elif op == "set":
        parent[leaf] = value
    elif op in ("inject", "control"):
        text = current if isinstance(current, str) else str(current)
        parent[leaf] = text + (f"\n{INJECTED}=1" if op == "inject" else "\x00\x1b[2J")
    elif op == "duplicate":
        if isinstance(current, list) and current:
            current.append(copy.deepcopy(current[0]))
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(current))
    elif op == "extreme" and isinstance(current, int) and not isinstance(current, bool):
        parent[leaf] = current * 10**9 if current else -1


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    stack = draw(st.sampled_from(STACKS))
    cfg = copy.deepcopy(BASES[stack])
    for _ in range(draw(st.integers(1, 3))):
        candidates = [p for p in paths(cfg) if p[0] not in PLACEHOLDER_SECRETS]
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        mutate(cfg, path, draw(st.sampled_from(OPS)), draw(ODD_VALUES))
    # Now and then, a secret too (its value must never be echoed).
    if draw(st.integers(0, 9)) == 0:
        cfg[draw(st.sampled_from(sorted(PLACEHOLDER_SECRETS)))] = draw(st.sampled_from(["", "a\nb", "x\x00"]))
    return stack, cfg


def assert_clean_refusal(problems: list[str], cfg: dict[str, Any]) -> None:
    assert problems, "refused without a reason"
    for p in problems:
        assert PROBLEM_RE.match(p), f"problem does not name a key: {p!r}"
        assert "Traceback" not in p
    for k in PLACEHOLDER_SECRETS:
        v = cfg.get(k)
        if isinstance(v, str) and len(v) > 3:
            assert not any(v in p for p in problems), f"secret {k} echoed"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_the_validator_refuses_by_key_or_accepts(case: tuple[str, dict[str, Any]]) -> None:
    stack, cfg = case
    try:
        parse_settings(cfg, stack)
    except SettingsError as e:
        assert_clean_refusal(e.problems, cfg)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_the_program_refuses_before_registering_or_renders_valid_host_files(case: tuple[str, dict[str, Any]]) -> None:
    stack, cfg = case
    mocks = CountingMocks()
    secrets = {k: cfg.pop(k) for k in list(cfg) if k in PLACEHOLDER_SECRETS}
    try:
        run = run_program(stack, cfg, secrets=secrets, mocks=mocks)
    except StackConfigError as e:
        assert mocks.calls == 0, f"{mocks.calls} resources registered before the refusal"
        assert_clean_refusal(e.problems, {**cfg, **secrets})
        return
    assert broken_files(run) == []


@pytest.mark.parametrize(("name", "text"), [
    ("config.yml", "a: [\n"), ("x.json", "{"), ("step.sh", "#!/usr/bin/env bash\nif then\n"),
    ("pgbackrest.conf", f"[global]\nrepo1-s3-region=x\n{INJECTED}=1\n"), ("s3cfg", "a=b\x00\n"),
])
def test_the_file_checks_really_check(name: str, text: str) -> None:
    assert check_file(name, text) is not None
