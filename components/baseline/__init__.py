"""HostBaseline: what every platform VM gets before any service is installed on it (identity,
time, security updates, sysctl, node_exporter, the nftables firewall).

    render.py     pure renderers of its files        contract.py  ports, scrape job
    plan.py       its steps, from settings             component.py the ComponentResource (Pulumi)
    checks.py     its `scripts/verify` lines           host/        the step scripts
"""
