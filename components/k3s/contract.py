"""What the K3s cluster offers the platform: the nodes' ports (docs.k3s.io, "Inbound rules for K3s
nodes", plus MetalLB's memberlist), the host group `k3sWorkloads` (the nodes that run the apps,
Traefik and MetalLB's speakers), and its place in the backups bucket. Pure."""

from __future__ import annotations

from components.contract import BucketUse, Contract, scrape_job
from components.firewall import ServicePort
from components.k3s import names as n
from components.settings import Settings

WORKLOADS_GROUP = "k3sWorkloads"


def ports(settings: Settings) -> list[ServicePort]:
    if not settings.k3s.enabled:
        return []
    return [
        # The API and K3s's supervisor: every node (joins, the agents' load balancer), the admins
        # (kubectl, the Pulumi kubernetes provider) and monitoring.
        ServicePort("k3s-api", n.API_PORT, ("k3sServers",), ("k3s", "admin", "monitoring")),
        ServicePort("k3s-etcd", n.ETCD_PORTS, ("k3sServers",), ("k3sServers",)),
        ServicePort("kubelet", n.KUBELET_PORT, ("k3s",), ("k3s", "monitoring")),
        ServicePort("flannel-vxlan", n.FLANNEL_VXLAN_PORT, ("k3s",), ("k3s",), proto="udp"),
        # MetalLB's speakers elect the announcing node among themselves (memberlist).
        ServicePort("metallb-memberlist", n.MEMBERLIST_PORT, (WORKLOADS_GROUP,), (WORKLOADS_GROUP,)),
        ServicePort("metallb-memberlist-udp", n.MEMBERLIST_PORT, (WORKLOADS_GROUP,), (WORKLOADS_GROUP,),
                    proto="udp"),
        # Traefik on MetalLB's addresses, answered by the node that announces them.
        ServicePort("http", n.HTTP_PORT, (WORKLOADS_GROUP,), ("any",)),
        ServicePort("https", n.HTTPS_PORT, (WORKLOADS_GROUP,), ("any",)),
        # kube-state-metrics' NodePort, scraped through the first server.
        ServicePort("kube-state-metrics", n.KSM_NODE_PORT, ("k3sServers",), ("monitoring",)),
    ]


def contract(settings: Settings) -> Contract:
    if not settings.k3s.enabled:
        # The checklist's K3s lines still run: a SKIP each, saying why.
        return Contract(name="k3s", checks="components.k3s.checks")
    return Contract(
        name="k3s",
        ports=tuple(ports(settings)),
        groups={WORKLOADS_GROUP: n.workload_nodes(settings)},
        # One target (the first server) so that every series exists once: any node forwards the
        # NodePort to the one kube-state-metrics pod.
        scrape_jobs=(scrape_job("kube_state_metrics", [n.first_server(settings)], n.KSM_NODE_PORT),),
        checks="components.k3s.checks",
        buckets=(BucketUse("backups", n.snapshot_folder(settings) + "/",
                           "K3s etcd snapshots (every server, on k3s.etcdSnapshot.schedule; K3s deletes "
                           "all but the newest k3s.etcdSnapshot.retention per server)"),),
    )
