"""MariaDB for Mautic: standalone on one database VM, a Galera cluster (with the arbitrator on the
etcd witness) on two or more. The ComponentResource is in component.py (Pulumi); the contract,
plan and renderers are pure."""
