"""Lab hosts for integration tests: systemd-nspawn "VMs" on a private bridge, a local apt
repository and an HTTPS S3 server. CLI: `scripts/lab`; Python API: `scripts.lablib.api`
(the package itself re-exports nothing, so `scripts.lablib.hosts` stays the module)."""
