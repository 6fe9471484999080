"""The kubeconfig K3s writes on the first server (`/etc/rancher/k3s/k3s.yaml`), made usable from
outside: its server URL (`https://127.0.0.1:6443`) replaced by the API endpoint. The YAML is parsed
and rewritten, never edited as text: K3s names its cluster, user and context all `default`, so a
text replacement cannot tell them apart, and the file embeds base64 certificates."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import yaml

from components.k3s.names import API_PORT, api_url

BEGIN, END = "platform-kubeconfig-begin", "platform-kubeconfig-end"  # host/kubeconfig.sh prints them


class KubeconfigError(ValueError):
    """The text is not a kubeconfig this function can rewrite (it names what is missing)."""


def extract_kubeconfig(stdout: str) -> str:
    """The kubeconfig in the kubeconfig step's output: base64 on the line between the markers."""
    lines = stdout.splitlines()
    if BEGIN not in lines or END not in lines[lines.index(BEGIN):]:
        raise KubeconfigError("the kubeconfig step printed no kubeconfig (markers missing)")
    body = lines[lines.index(BEGIN) + 1:lines.index(END, lines.index(BEGIN))]
    try:
        return base64.b64decode("".join(body), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise KubeconfigError(f"the kubeconfig step's output is not base64 text: {e}") from e


def _named(entries: Any, kind: str) -> list[dict[str, Any]]:
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "name" in e for e in entries):
        raise KubeconfigError(f"kubeconfig has no list of named {kind}")
    return entries


def rewrite_kubeconfig(text: str, endpoint: str, name: str, port: int = API_PORT) -> str:
    """The kubeconfig with the server of its current context's cluster set to `endpoint` and
    that cluster, its user and the context renamed `name` (so it merges with other kubeconfigs
    without clashing on `default`); every other entry unchanged."""
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or doc.get("kind", "Config") != "Config":
        raise KubeconfigError("not a kubeconfig (kind Config)")
    clusters = _named(doc.get("clusters"), "clusters")
    users = _named(doc.get("users"), "users")
    contexts = _named(doc.get("contexts"), "contexts")
    current = doc.get("current-context") or (contexts[0]["name"] if len(contexts) == 1 else None)
    ctx = next((c for c in contexts if c["name"] == current), None)
    if ctx is None or not isinstance(ctx.get("context"), dict):
        raise KubeconfigError(f"current context {current!r} is not defined")
    cluster_name, user_name = ctx["context"].get("cluster"), ctx["context"].get("user")
    cluster = next((c for c in clusters if c["name"] == cluster_name), None)
    user = next((u for u in users if u["name"] == user_name), None)
    if cluster is None or not isinstance(cluster.get("cluster"), dict):
        raise KubeconfigError(f"context {current!r} names cluster {cluster_name!r}, which is not defined")
    if user is None:
        raise KubeconfigError(f"context {current!r} names user {user_name!r}, which is not defined")
    cluster["cluster"]["server"] = api_url(endpoint, port)
    cluster["name"], user["name"], ctx["name"] = name, name, name
    ctx["context"]["cluster"] = ctx["context"]["user"] = name
    doc["current-context"] = name
    return yaml.safe_dump(doc, sort_keys=False)
