"""`platform:k3s`: the K3s cluster on the `k3sServers` and `k3sAgents` hosts (components/k3s/).

Read in two passes: `k3s.enabled` first (it decides whether the K3s roles need hosts), the rest once
the inventory is known, because the defaults and several rules depend on the nodes (the API
endpoint defaults to the first server, the MetalLB range must lie on the nodes' network).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from components.settings.model import Inventory, K3sSettings
from components.settings.reader import ADDRESS_RULE, Reader, cron

KEYS = ("enabled", "version", "artifactUrl", "apiEndpoint", "serversRunWorkloads", "metallbRange",
        "nodeNetwork", "clusterCidr", "serviceCidr", "etcdSnapshot")
VERSION_RE = r"v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)"
# The newest stable K3s release confirmed from K3s's release notes (docs.k3s.io/release-notes/v1.36.X,
# v1.36.1+k3s1 of 2026-05-20; v1.36.2+k3s1 was still a pre-release). The rendered config.yaml is
# written for v1.34 and later (`etcd-s3-retention` exists from the v1.34.0 releases on).
DEFAULT_VERSION = "v1.36.1+k3s1"
MIN_MINOR = (1, 34)
DNS_NAME_RE = r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?"
ARTIFACT_URL_RE = r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%+-]+)*"
# K3s's own default schedule (twice a day); 14 snapshots per server = one week.
DEFAULT_SNAPSHOT_SCHEDULE = "0 */12 * * *"
DEFAULT_SNAPSHOT_RETENTION = 14


def read_enabled(r: Reader, raw: Any) -> tuple[Mapping[str, Any], bool]:
    """The `k3s` object (unknown keys refused) and `k3s.enabled`."""
    kc = r.obj("k3s", raw, KEYS)
    return kc, r.boolean("k3s.enabled", kc.get("enabled"), True)


def _version(r: Reader, value: Any) -> str:
    version = r.string("k3s.version", value, DEFAULT_VERSION, pattern=VERSION_RE,
                       what=f"a K3s release such as {DEFAULT_VERSION} (vMAJOR.MINOR.PATCH+k3sN; no release "
                            "candidates)")
    m = re.fullmatch(VERSION_RE, version)
    if m and (int(m.group(1)), int(m.group(2))) < MIN_MINOR:
        r.problem("k3s.version", f"{version} is older than v{MIN_MINOR[0]}.{MIN_MINOR[1]}.0; allowed: "
                  f"v{MIN_MINOR[0]}.{MIN_MINOR[1]} or later (the rendered config.yaml uses etcd-s3-retention)")
        return DEFAULT_VERSION
    return version


def _api_endpoint(r: Reader, value: Any, default: str) -> str:
    """A DNS name or an IPv4 address (IPv6 is refused as for every address of the platform)."""
    if value is None:
        return default
    if isinstance(value, str) and ":" in value:
        r.problem("k3s.apiEndpoint", f"{value!r} is IPv6 or has a port; expected a DNS name or {ADDRESS_RULE} "
                  "(the port is always 6443)")
        return default
    if isinstance(value, str) and re.fullmatch(r"[\d.]+", value):
        return r.ip("k3s.apiEndpoint", value) or default
    return r.string("k3s.apiEndpoint", value, default, pattern=DNS_NAME_RE,
                    what=f"a lower-case DNS name or {ADDRESS_RULE}")


def _metallb(r: Reader, value: str, network: str, inv: Inventory, cidrs: tuple[str, ...]) -> str | None:
    """FIRST-LAST on the nodes' network, not reversed, clear of every VM and of the K3s CIDRs."""
    parts = value.split("-")
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = (ipaddress.IPv4Address(x.strip()) for x in parts)
    except ValueError:
        r.problem("k3s.metallbRange", f"got {value!r}; expected FIRST-LAST, two IPv4 addresses, e.g. "
                  "203.0.113.200-203.0.113.210")
        return None
    if lo > hi:
        r.problem("k3s.metallbRange", f"{value!r} is reversed: {lo} comes after {hi}; write FIRST-LAST")
        return None
    ok = True
    if network:
        net = ipaddress.IPv4Network(network)
        if lo not in net or hi not in net:
            r.problem("k3s.metallbRange", f"{value} is outside k3s.nodeNetwork ({network}); MetalLB announces "
                      "its addresses with ARP from the nodes, so they must be on the nodes' network: "
                      "choose free addresses in it, or set k3s.nodeNetwork")
            ok = False
    for h in inv.all():
        for ip in {h.private_ip, h.public_ip} - {""}:
            if lo <= ipaddress.IPv4Address(ip) <= hi:
                r.problem("k3s.metallbRange", f"{value} includes {ip}, the address of host {h.name}; "
                          "the pool must hold only free addresses")
                ok = False
    for cidr in filter(None, cidrs):
        net = ipaddress.IPv4Network(cidr)
        if lo in net or hi in net or (lo < net.network_address and hi > net.broadcast_address):
            r.problem("k3s.metallbRange", f"{value} overlaps {cidr} (k3s.clusterCidr / k3s.serviceCidr); "
                      "allowed: addresses outside the pod and service networks")
            ok = False
    return f"{lo}-{hi}" if ok else None


def parse_k3s(r: Reader, kc: Mapping[str, Any], enabled: bool, preset: str, inv: Inventory) -> K3sSettings:
    servers, agents = inv["k3sServers"], inv["k3sAgents"]
    first = servers[0] if servers else None
    version = _version(r, kc.get("version"))
    artifact = r.optional_string("k3s.artifactUrl", kc.get("artifactUrl"), pattern=ARTIFACT_URL_RE,
                                 what="an http(s) base URL without a trailing slash, holding k3s, "
                                      "k3s-airgap-images-<arch>.tar.zst and sha256sum-<arch>.txt")
    api = _api_endpoint(r, kc.get("apiEndpoint"), first.public_ip if first else "")
    # mvp: the one server runs the apps too; prod-ha: the servers keep etcd and the control plane
    # to themselves (tainted CriticalAddonsOnly), the agents run the apps.
    run_workloads = r.boolean("k3s.serversRunWorkloads", kc.get("serversRunWorkloads"), preset != "prod-ha")
    cluster_cidr = r.cidr("k3s.clusterCidr", kc.get("clusterCidr", "10.42.0.0/16"))
    service_cidr = r.cidr("k3s.serviceCidr", kc.get("serviceCidr", "10.43.0.0/16"))
    if cluster_cidr and service_cidr and \
            ipaddress.ip_network(cluster_cidr).overlaps(ipaddress.ip_network(service_cidr)):
        r.problem("k3s.serviceCidr", f"{service_cidr} overlaps k3s.clusterCidr ({cluster_cidr}); "
                  "pod and service addresses must be distinct")
    for key, cidr in (("k3s.clusterCidr", cluster_cidr), ("k3s.serviceCidr", service_cidr)):
        if not cidr:
            continue
        inside = sorted({h.name for h in inv.all() for ip in (h.private_ip, h.public_ip)
                         if ip and ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(cidr)})
        if inside:
            r.problem(key, f"{cidr} contains the address of {', '.join(inside)}; the pods would shadow "
                      "those VMs: allowed: a network that holds no VM address")
    default_net = str(ipaddress.IPv4Network(f"{first.public_ip}/24", strict=False)) if first and first.public_ip \
        else ""
    network = r.cidr("k3s.nodeNetwork", kc.get("nodeNetwork", default_net)) if default_net or \
        kc.get("nodeNetwork") is not None else ""
    raw_range = r.optional_string("k3s.metallbRange", kc.get("metallbRange"))
    metallb = _metallb(r, raw_range, network, inv, (cluster_cidr, service_cidr)) if raw_range else None
    if metallb and network:
        # The speakers run where the apps run: a node outside the network would announce
        # addresses no client on its segment can reach.
        announcing = agents + (servers if run_workloads else ())
        outside = [h.name for h in announcing
                   if h.public_ip and ipaddress.IPv4Address(h.public_ip) not in ipaddress.IPv4Network(network)]
        if outside:
            r.problem("k3s.nodeNetwork", f"{network} does not hold the publicIp of {', '.join(outside)}, "
                      "which announce k3s.metallbRange; allowed: the network all announcing nodes are on")
    if enabled and not run_workloads and servers and not agents:
        r.problem("hosts.k3sAgents", "is empty while k3s.serversRunWorkloads is false: the servers are "
                  "tainted CriticalAddonsOnly and no node could run the apps; add agents or set "
                  "k3s.serversRunWorkloads to true")
    s = r.obj("k3s.etcdSnapshot", kc.get("etcdSnapshot"), ("schedule", "retention"))
    return K3sSettings(
        enabled=enabled, version=version, artifact_url=artifact, api_endpoint=api,
        servers_run_workloads=run_workloads, metallb_range=metallb, node_network=network,
        cluster_cidr=cluster_cidr, service_cidr=service_cidr,
        snapshot_schedule=cron(r, "k3s.etcdSnapshot.schedule", s.get("schedule"), DEFAULT_SNAPSHOT_SCHEDULE),
        snapshot_retention=r.integer("k3s.etcdSnapshot.retention", s.get("retention"),
                                     DEFAULT_SNAPSHOT_RETENTION, lo=1, hi=1000),
    )
