"""K3sCluster: K3s on the `k3sServers` and `k3sAgents` VMs over SSH (embedded etcd, servers joined
one at a time, agents after the last server), etcd snapshots to the backups bucket.

    names.py      ports, secret names, paths, topology    render/      pure renderers (config.yaml,
    contract.py   ports (firewall), host groups, bucket                 units, kubeconfig rewrite)
    plan.py       its steps, from settings                component.py the ComponentResource (Pulumi)
    host/         the step script
"""
