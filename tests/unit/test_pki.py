"""The internal CA: ECDSA P-256, one certificate per host with its name and private IP as SANs."""

from __future__ import annotations

from components.postgres.names import etcd_members
from scripts.program import run_program
from tests.unit.helpers import config, settings


def test_ca_and_host_certificates() -> None:
    r = run_program("lab", config("lab"))
    s = settings("lab")
    keys = [x for x in r.records if x.type == "tls:index/privateKey:PrivateKey"]
    assert all(k.inputs["algorithm"] == "ECDSA" and k.inputs["ecdsaCurve"] == "P256" for k in keys)
    csrs = {x.name: x for x in r.records if x.type == "tls:index/certRequest:CertRequest"}
    # One certificate per host, issued once even if used by many steps: every VM ships its journal
    # with it, and the database VMs and etcd members serve with it.
    assert sorted(csrs) == sorted(f"platform-ca-{h.name}-csr" for h in s.hosts.all())
    assert {f"platform-ca-{h.name}-csr" for h in etcd_members(s)} <= set(csrs)
    db1 = csrs["platform-ca-db-1-csr"].inputs
    assert db1["ipAddresses"] == ["127.0.0.1", "198.18.0.11"]
    assert db1["dnsNames"] == ["db-1", "localhost"]
    certs = [x for x in r.records if x.type == "tls:index/locallySignedCert:LocallySignedCert"]
    assert all({"server_auth", "client_auth"} <= set(c.inputs["allowedUses"]) for c in certs)
    ca = [x for x in r.records if x.type == "tls:index/selfSignedCert:SelfSignedCert"]
    assert len(ca) == 1 and "cert_signing" in ca[0].inputs["allowedUses"]
