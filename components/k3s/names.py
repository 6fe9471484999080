"""Names the K3s component shares between its renderers, plan, contract and tests: ports, secret
names, paths on the nodes, and the topology. Pure; each constant has its one definition here.

Topology (DESIGN.md): the first server starts the cluster (`cluster-init`, embedded etcd, also
with one server so that its state can be snapshotted to S3 and more servers can join later), the
other servers join it one at a time, the agents join after the last server. With
`k3s.serversRunWorkloads` false the servers are tainted and only the agents run the apps.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from components.settings import Host, Settings

API_PORT = 6443  # kube-apiserver and K3s's supervisor (joins, /cacerts)
ETCD_PORTS = (2379, 2380)  # embedded etcd, client and peer
KUBELET_PORT = 10250
FLANNEL_VXLAN_PORT = 8472  # udp
MEMBERLIST_PORT = 7946  # MetalLB speakers among themselves (tcp and udp)
HTTP_PORT, HTTPS_PORT = 80, 443  # Traefik behind MetalLB's addresses
KSM_NODE_PORT = 30808  # kube-state-metrics for the monitoring VM (a NodePort: Prometheus is outside)
KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"  # what an agent's step waits for

# The join token (K3s's `token`, shared by servers and agents): generated once, a secret.
PASSWORD_TOKEN = "k3s-token"  # RandomPassword name
SECRET_TOKEN = "k3s_token"  # placeholder / step secret name

CONFIG_DIR = "/etc/rancher/k3s"
CONFIG_FILE = f"{CONFIG_DIR}/config.yaml"
KUBECONFIG_FILE = f"{CONFIG_DIR}/k3s.yaml"  # written by the first server; read back later
S3_CA_FILE = f"{CONFIG_DIR}/s3-ca.pem"
DATA_DIR = "/var/lib/rancher/k3s"
IMAGES_DIR = f"{DATA_DIR}/agent/images"  # air-gapped images tarball, imported at start
BINARY = "/usr/local/bin/k3s"

# Node labels (kubelets may set any label outside the kubernetes.io / k8s.io prefixes).
LABEL_ROLE = "platform/vm-role"  # the inventory role (k3sServers | k3sAgents)
LABEL_WORKLOADS = "platform/workloads"  # "true" where the apps, Traefik and MetalLB's speakers run
# On servers that keep to the control plane: only pods tolerating it (K3s's own add-ons) run there.
SERVER_TAINT = "CriticalAddonsOnly=true:NoExecute"
# Released files (GitHub's release assets, or the same names below k3s.artifactUrl).
RELEASE_BASE = "https://github.com/k3s-io/k3s/releases/download"


def servers(settings: Settings) -> tuple[Host, ...]:
    return settings.hosts["k3sServers"] if settings.k3s.enabled else ()


def agents(settings: Settings) -> tuple[Host, ...]:
    return settings.hosts["k3sAgents"] if settings.k3s.enabled else ()


def nodes(settings: Settings) -> tuple[Host, ...]:
    return servers(settings) + agents(settings)


def first_server(settings: Settings) -> Host:
    return servers(settings)[0]


def tainted(settings: Settings) -> bool:
    """Whether the servers carry SERVER_TAINT (only the agents run workloads)."""
    return not settings.k3s.servers_run_workloads


def workload_nodes(settings: Settings) -> tuple[Host, ...]:
    """Where the apps, Traefik and MetalLB's speakers run (so where 80/443 arrive)."""
    return agents(settings) + (() if tainted(settings) else servers(settings))


def api_url(host: str, port: int = API_PORT) -> str:
    """https URL of an API address; an IPv6 literal goes in brackets (RFC 3986)."""
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def join_url(settings: Settings) -> str:
    """What the other nodes join: the first server on the private network. Agents learn every
    server from it once registered (K3s's client load balancer), so it matters only for a join."""
    return api_url(first_server(settings).private_ip)


def release_url(settings: Settings) -> str:
    """Base URL of the release's files: k3s.artifactUrl (air-gapped) or GitHub's release."""
    return settings.k3s.artifact_url or f"{RELEASE_BASE}/{settings.k3s.version}"


def snapshot_folder(settings: Settings) -> str:
    """The etcd snapshots' folder in the backups bucket (K3s's `etcd-s3-folder`)."""
    return f"k3s/{settings.stack}"


def s3_endpoint(settings: Settings) -> str:
    """host[:port] of s3.endpoint: K3s's `etcd-s3-endpoint` takes no scheme (HTTPS is its default)."""
    return urlsplit(settings.s3.endpoint).netloc
