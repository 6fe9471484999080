"""The components as pure plans and contracts: checked without mocks, then against what the
program registers (the plan is exactly what `pulumi up`, the lab and `scripts/render` see)."""

from __future__ import annotations

import importlib
import sys

import pytest

from components import catalog
from components.contract import all_groups, scrape_jobs
from components.plan import CaCert, HostCert, HostKey, Password, bucket_ref
from components.remote import read_bundle
from scripts.program import Run, run_program
from tests.unit.helpers import STACKS, config, settings


def all_steps(stack: str) -> list:  # type: ignore[type-arg]
    return [s for p in catalog.plans(settings(stack)).values() for s in p.steps]


@pytest.mark.parametrize("stack", STACKS)
def test_steps_are_unique_and_run_after_earlier_steps_or_buckets(stack: str) -> None:
    s = settings(stack)
    seen: set[str] = {bucket_ref(k) for k in s.s3.buckets.by_key()}
    for step in all_steps(stack):
        assert step.name not in seen, f"{step.name} planned twice"
        missing = [a for a in step.after if a not in seen]
        assert not missing, f"{step.name} runs after {missing}, not planned before it"
        seen.add(step.name)
        assert step.script.is_file(), step.script
        assert step.host in s.hosts.all()


@pytest.mark.parametrize("stack", STACKS)
def test_every_secret_has_a_source_and_every_password_one_owner(stack: str) -> None:
    s = settings(stack)
    plans = catalog.plans(s)
    owned = [n for p in plans.values() for n in p.passwords]
    assert len(owned) == len(set(owned))
    names = {h.name for h in s.hosts.all()}
    for step in all_steps(stack):
        for value in step.secrets.values():
            if isinstance(value, Password):
                assert value.name in owned, (step.name, value)
            if isinstance(value, HostKey):
                assert value.host in names
        for value in step.files.values():
            if isinstance(value, HostCert):
                assert value.host in names
            assert isinstance(value, (str, CaCert, HostCert))


@pytest.mark.parametrize("stack", STACKS)
def test_contracts_only_name_what_exists(stack: str) -> None:
    s = settings(stack)
    contracts = catalog.contracts(s)
    groups = {**s.hosts.groups(), **all_groups(contracts)}
    for c in contracts:
        for p in c.ports:
            for g in (*p.on, *p.sources):
                assert g in groups or g in ("admin", "any"), (c.name, p.name, g)
        for b in c.buckets:
            assert b.bucket in s.s3.buckets.by_key(), (c.name, b)
        if c.checks:
            assert importlib.import_module(c.checks)
    addresses = {h.private_ip for h in s.hosts.all()}
    jobs = scrape_jobs(contracts)
    assert len({j.job for j in jobs}) == len(jobs)
    for j in jobs:
        assert j.scheme in ("http", "https") and j.path.startswith("/")
        for t in j.targets:
            assert t.address.rsplit(":", 1)[0] in addresses and {"host", "vm_role"} <= set(t.labels)
    assert {j.job for j in jobs} >= {"node", "postgres_exporter", "pgbouncer_exporter", "patroni", "etcd",
                                    "redis", "sentinel"}
    https = {j.job for j in jobs if j.scheme == "https"}
    assert https == {"patroni"}  # etcd: its plain metrics listener


def test_pure_modules_import_no_pulumi() -> None:
    """Renderers, plans, contracts and settings import no Pulumi SDK (run in a fresh interpreter)."""
    import subprocess

    code = ("import sys; import components.catalog, components.checks, components.postgres.render, "
            "components.redis.render, components.router.render, components.baseline.render, components.settings, "
            "components.k3s.render, components.k3s.plan; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_command', 'pulumi_random',"
            " 'pulumi_tls', 'pulumi_aws', 'pulumi_kubernetes')); print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module", params=STACKS)
def run(request: pytest.FixtureRequest) -> tuple[str, Run]:
    stack = request.param
    return stack, run_program(stack, config(stack))


def test_the_program_registers_exactly_the_plan(run: tuple[str, Run]) -> None:
    stack, r = run
    commands = {x.name: x for x in r.records if x.type == "command:remote:Command"}
    urns = {x.name: x.urn for x in r.records}
    steps = all_steps(stack)
    assert sorted(s.name for s in steps) == sorted(commands)  # the same steps, nothing else
    buckets = {bucket_ref(k): urns[f"bucket-{k}"] for k in settings(stack).s3.buckets.by_key()}
    for step in steps:
        rec = commands[step.name]
        stdin = rec.inputs["stdin"]
        bundle = read_bundle(stdin["value"] if isinstance(stdin, dict) else stdin)
        plain = {k: v for k, v in step.files.items() if isinstance(v, str)}
        for name, text in plain.items():
            assert bundle[f"files/{name}"] == text, (step.name, name)
        files = {m.removeprefix("files/") for m in bundle if m.startswith("files/")} - {"params.env"}
        assert files == set(step.files), step.name
        assert {m.removeprefix("secrets/") for m in bundle if m.startswith("secrets/")} == set(step.secrets)
        assert bundle["step.sh"] == step.script.read_text()
        after = {commands[a].urn if a in commands else buckets[a] for a in step.after}
        assert after <= set(rec.dependencies), step.name
