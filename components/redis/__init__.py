"""RedisSentinelCluster: Redis 7 (distribution packages) with Sentinel, redis_exporter and RDB
backups to S3, on the Redis VMs.

    names.py      ports, secret names, layout, topology  render/      pure renderers, one per service
    contract.py   ports, scrape jobs, router listener     plan.py      its steps, from settings
    component.py  the ComponentResource (Pulumi)          checks.py    its `scripts/verify` lines
    host/         the step scripts                        files/       scripts the steps install
"""
