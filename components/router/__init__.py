"""Router: HAProxy in front of the PostgreSQL primary/replicas (and Redis, via extra sections).

Rendered once (`render.render_haproxy`). With `router.placement: vms` one `router` step per edge
VM installs it; with `k3s` this component only renders (the K3s component deploys the same text).
Outputs: `config` (the rendered haproxy.cfg), `endpoint` (host:port of the PostgreSQL primary
listener), `ready` (the steps; depend on them, not on the component).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi

from components.remote import StepSpec, host_step
from components.router import render
from components.router.render import endpoint
from components.settings import Settings

HOST_DIR = Path(__file__).parent / "host"
__all__ = ["Router", "endpoint"]


class Router(pulumi.ComponentResource):
    config: pulumi.Output[str]
    endpoint: str
    replica_endpoint: str
    ready: list[pulumi.Resource]

    def __init__(
        self,
        settings: Settings,
        ca_cert_pem: pulumi.Input[str],
        host_ready: Mapping[str, pulumi.Resource],
        extra_sections: Sequence[pulumi.Input[str]] = (),
        extra_secrets: Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("platform:router:Router", "router", None, opts)
        self.config = pulumi.Output.all(*extra_sections).apply(
            lambda sections: render.render_haproxy(settings, [str(s) for s in sections]))
        self.endpoint = endpoint(settings)
        self.replica_endpoint = endpoint(settings, render.REPLICA_PORT)
        self.ready = []
        if settings.router.placement == "vms":
            for h in settings.router_hosts():
                self.ready.append(host_step(settings, StepSpec(
                    name=f"{h.name}-router", host=h, script=HOST_DIR / "router.sh",
                    files={"haproxy.cfg": self.config, "platform-ca.pem": ca_cert_pem,
                           "haproxy.default": render.render_defaults(h.private_ip)},
                    secrets=dict(extra_secrets or {}),
                    depends_on=[host_ready[h.name]] if h.name in host_ready else [],
                ), parent=self))
        self.register_outputs({"endpoint": self.endpoint, "replicaEndpoint": self.replica_endpoint})
