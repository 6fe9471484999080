"""PostgresHACluster: PostgreSQL 15 + Patroni + etcd + PgBouncer + pgBackRest + postgres_exporter +
prometheus-pgbouncer-exporter on the database VMs (and etcd on the witness).

    names.py      ports, roles, secret names, paths   render/      pure renderers, one per service
    contract.py   ports, groups, scrape jobs, buckets  plan.py      its steps, from settings
    component.py  the ComponentResource (Pulumi)       checks.py    its `scripts/verify` lines
    host/         the step scripts                     files/       scripts the steps install
"""
