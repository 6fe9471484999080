"""Every Kubernetes object the program registers, as `scripts/render` writes it under
DIR/kubernetes/, checked by `kubernetes-validate --strict` against the Kubernetes minor of the
pinned K3s (built-in kinds; the custom resources, which it has no schema for, are checked field by
field in test_k3s_program.py). A typo'd field must fail."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts.render import render
from tests.unit.helpers import settings

# API groups of the custom resources (their CRDs come with cert-manager, MetalLB and K3s).
CUSTOM_GROUPS = ("cert-manager.io/", "metallb.io/", "helm.cattle.io/")
VALIDATE = shutil.which("kubernetes-validate") or str(
    Path(__file__).resolve().parents[2] / ".venv/bin/kubernetes-validate")


def kube_minor(stack: str) -> str:
    m = re.fullmatch(r"v(\d+)\.(\d+)\.\d+\+k3s\d+", settings(stack).k3s.version)
    assert m, settings(stack).k3s.version
    return f"{m.group(1)}.{m.group(2)}.0"


def validate(files: list[Path], version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VALIDATE, "--strict", "--quiet", "-k", version, *map(str, files)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module", params=["mvp", "prod-ha"])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    if not Path(VALIDATE).exists():
        pytest.fail("kubernetes-validate is required (requirements-dev.txt)")
    out = tmp_path_factory.mktemp(f"render-{request.param}")
    assert render(request.param, out) == 0
    return request.param, out / "kubernetes"


def builtin(kube_dir: Path) -> list[Path]:
    return sorted(p for p in kube_dir.glob("*.yaml")
                  if not yaml.safe_load(p.read_text())["apiVersion"].startswith(CUSTOM_GROUPS))


def test_every_builtin_object_passes_strict_validation(rendered: tuple[str, Path]) -> None:
    stack, kube = rendered
    files = builtin(kube)
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in files}
    assert {"Deployment", "Service", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= kinds
    # The apps' objects (components/apps/render/) too.
    assert {"Namespace", "Secret", "ConfigMap", "Ingress", "NetworkPolicy", "Job", "CronJob",
            "PersistentVolumeClaim", "PodDisruptionBudget"} <= kinds
    p = validate(files, kube_minor(stack))
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_typo_fails(rendered: tuple[str, Path], tmp_path: Path) -> None:
    stack, kube = rendered
    dep = next(p for p in builtin(kube) if p.name.startswith("deployment-"))
    obj = yaml.safe_load(dep.read_text())
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "IfNotPresent"
    bad = tmp_path / dep.name
    bad.write_text(yaml.safe_dump(obj))
    p = validate([bad], kube_minor(stack))
    assert p.returncode != 0 and "imagePullPolicyy" in p.stdout + p.stderr


def test_custom_resources_and_releases_are_written_too(rendered: tuple[str, Path]) -> None:
    _, kube = rendered
    customs = {p.name for p in kube.glob("*.yaml")} - {p.name for p in builtin(kube)}
    assert {"clusterissuer-cluster-letsencrypt-production.yaml", "clusterissuer-cluster-letsencrypt-staging.yaml",
            "ipaddresspool-metallb-system-platform.yaml", "l2advertisement-metallb-system-platform.yaml",
            "helmchartconfig-kube-system-traefik.yaml"} == customs
    releases = {p.stem: yaml.safe_load(p.read_text()) for p in (kube / "helm").glob("*.yaml")}
    assert set(releases) == {"cert-manager", "metallb"}
    assert all(r["version"] and r["repositoryOpts"]["repo"].startswith("https://") for r in releases.values())


def test_render_is_deterministic(rendered: tuple[str, Path], tmp_path: Path) -> None:
    stack, kube = rendered
    assert render(stack, tmp_path / "again") == 0
    again = tmp_path / "again" / "kubernetes"
    names = sorted(p.relative_to(kube) for p in kube.rglob("*.yaml"))
    assert names == sorted(p.relative_to(again) for p in again.rglob("*.yaml"))
    assert all((kube / n).read_text() == (again / n).read_text() for n in names)
