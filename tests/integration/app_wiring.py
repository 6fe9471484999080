"""The apps' rendered objects read the way a pod would see them, with the lab standing in for the
cluster: a router Service name resolves to the lab's router (edge-1) on the Service's target port
(the listener the router pods run), a Secret key to the value its source names in the lab's stack
outputs, a mounted CA file to the lab's copy. Nothing else is translated."""

from __future__ import annotations

import configparser
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from components.apps import names as n
from components.apps.render import kube
from components.plan import ConfigSecret
from components.router.render import router_hosts
from scripts.drills.common import Lab
from scripts.lablib.s3 import s3_credentials


def router_address(lab: Lab, host: str, port: int) -> tuple[str, int]:
    """An in-cluster router Service host:port -> the lab router's address for the same listener."""
    for svc in n.ALL_ROUTER_SERVICES:
        if svc.host() == host and svc.port == port:
            return router_hosts(lab.settings)[0].private_ip, svc.target
    raise AssertionError(f"{host}:{port} is not a router Service (apps must reach the data tier only through them)")


def source_value(lab: Lab, src: kube.Source) -> str:
    if isinstance(src, kube.OutputValue):
        value: Any = lab.outputs[src.output]
        for key in src.path:
            value = value[key]
        return str(value)
    if isinstance(src, ConfigSecret) and src.name in ("s3AccessKey", "s3SecretKey"):
        access, secret = s3_credentials()
        return access if src.name == "s3AccessKey" else secret
    raise AssertionError(f"no lab value for {src!r}")


def secret_values(lab: Lab, spec: kube.SecretSpec) -> dict[str, str]:
    return kube.secret_data(spec, lambda src: source_value(lab, src))


def env_of(container: dict[str, Any], specs: dict[str, kube.SecretSpec], lab: Lab) -> dict[str, str]:
    """A container's environment as the pod gets it (secretKeyRef resolved through the spec)."""
    out = {}
    for e in container.get("env", []):
        if "value" in e:
            out[e["name"]] = e["value"]
            continue
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            out[e["name"]] = secret_values(lab, specs[ref["name"]])[ref["key"]]
    return out


def find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    raise AssertionError(f"no {kind} {name} in the rendered objects")


def container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    spec = obj["spec"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"] if obj["kind"] == "CronJob" else spec["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == name)


def ini_options(text: str) -> dict[str, str]:
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(text)
    return dict(cp["options"])


@contextmanager
def private_dir() -> Iterator[str]:
    """A 0700 directory for files that hold passwords (removed afterwards)."""
    d = tempfile.mkdtemp(prefix="platform-contract-")
    os.chmod(d, 0o700)
    try:
        yield d
    finally:
        for f in os.listdir(d):
            os.unlink(os.path.join(d, f))
        os.rmdir(d)


def write_private(d: str, name: str, text: str) -> str:
    path = os.path.join(d, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def ca_file(lab: Lab, d: str) -> str:
    return write_private(d, "ca.crt", lab.outputs["postgresCaCertificate"])


def last_json(text: str) -> dict[str, Any]:
    lines = [ln for ln in text.strip().splitlines() if ln.startswith("{")]
    assert lines, text[-2000:]
    return json.loads(lines[-1])  # type: ignore[no-any-return]
