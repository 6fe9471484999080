"""The K3s cluster's steps, computed from settings (pure; component.py registers them).

    <server 1>-k3s    the pinned K3s binary (sha256-checked), config.yaml, the unit; starts the
                      cluster (`cluster-init`); returns once the node is Ready. After the host's
                      baseline and the backups bucket (etcd snapshots go there).
    <server N>-k3s    joins through server 1; after server N-1's step, so servers join (and
                      later restart) one at a time, each Ready before the next.
    <agent>-k3s       joins after the last server's step; returns once its kubelet is healthy.
    <server 1>-kubeconfig  prints the admin kubeconfig (secret output) after the last server's
                      step, for the program's kubernetes provider.

The join token is a generated password: it reaches the nodes only as a step secret, substituted
into config.yaml (0600) on the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.baseline.plan import ready_step
from components.contract import Contract
from components.k3s import names as n
from components.k3s import render
from components.plan import FileValue, Password, Plan, SecretValue, Step, bucket_ref, s3_credentials
from components.settings import Host, Settings

HOST_DIR = Path(__file__).parent / "host"
READY_TIMEOUT_S = 600  # a first start pulls the system images (or imports the air-gapped tarball)
DRAIN_TIMEOUT_S = 600  # evictions wait for PodDisruptionBudgets; longer fails the `up`, node cordoned


def step_name(host: Host) -> str:
    return f"{host.name}-k3s"


def _drain_step(settings: Settings, host: Host, mode: str, after: tuple[str, ...]) -> Step:
    """On the first server (it has kubectl and the admin credentials, an agent has neither): drain
    `host` before its version changes, or uncordon it after; VERSION in the params makes the step
    run again exactly when that node's version changes."""
    first = n.first_server(settings)
    return Step(name=f"{first.name}-{mode}-{host.name}", host=first, script=HOST_DIR / "drain.sh",
                params={"MODE": mode, "NODE": host.name, "VERSION": settings.k3s.version,
                        "DRAIN_TIMEOUT": str(DRAIN_TIMEOUT_S)},
                after=after)


def kubeconfig_step_name(settings: Settings) -> str:
    return f"{n.first_server(settings).name}-kubeconfig"


def _step(settings: Settings, host: Host, after: tuple[str, ...]) -> Step:
    server = host.role == "k3sServers"
    first = server and host == n.first_server(settings)
    files: dict[str, FileValue] = {
        "config.yaml": render.render_config(settings, host),
        "unit": render.render_unit(host),
    }
    secrets: dict[str, SecretValue] = {n.SECRET_TOKEN: Password(n.PASSWORD_TOKEN)}
    if server:
        secrets |= s3_credentials()  # etcd snapshots to S3
        if settings.s3.ca_certificate:
            files["s3-ca.pem"] = settings.s3.ca_certificate
    return Step(
        name=step_name(host), host=host, script=HOST_DIR / "k3s.sh", files=files, secrets=secrets,
        params={
            "ROLE": "server" if server else "agent",
            "SERVICE": render.unit_name(host),
            "NODE_NAME": host.name,
            "VERSION": settings.k3s.version,
            "BASE_URL": n.release_url(settings),
            "AIRGAP": "1" if settings.k3s.artifact_url else "0",
            # The first server must never start a second cluster next to a running one (a rebuilt
            # VM): it checks the other servers before `cluster-init`.
            "BOOTSTRAP": "1" if first else "0",
            "PEERS": " ".join(h.private_ip for h in n.servers(settings) if h != host) if first else "",
            "API_PORT": str(n.API_PORT),
            "READY_TIMEOUT": str(READY_TIMEOUT_S),
        },
        after=(ready_step(host), *after),
    )


def plan(settings: Settings, contracts: Sequence[Contract] = ()) -> Plan:
    if not settings.k3s.enabled:
        return Plan()
    steps: list[Step] = []
    previous: tuple[str, ...] = (bucket_ref("backups"),)
    last_server = ""
    # One node at a time, servers first: drain it (an upgrade only), its step, uncordon it.
    for h in (*n.servers(settings), *n.agents(settings)):
        drain = _drain_step(settings, h, "drain", previous)
        node = _step(settings, h, (drain.name,))
        uncordon = _drain_step(settings, h, "uncordon", (node.name,))
        steps += [drain, node, uncordon]
        previous = (uncordon.name,)
        if h.role == "k3sServers":
            last_server = node.name
    first = n.first_server(settings)
    steps.append(Step(name=kubeconfig_step_name(settings), host=first, script=HOST_DIR / "kubeconfig.sh",
                      after=(last_server,), secret_output=True))
    return Plan(steps=tuple(steps), passwords=(n.PASSWORD_TOKEN,))
