"""Components as a pure plan: what each component wants done on which host, as plain data.

A component's `plan(settings, contracts)` returns a `Plan`: its steps (host, script, rendered
files, the secrets each needs, the parameters, and the steps or buckets it runs after, by name)
and the passwords it generates. `components/deploy.py` turns a plan into resources; the same plan
is what `scripts/render` writes and what a preview lists. No Pulumi imports.

Values known only once resources exist are references: `CaCert()` / `HostCert(host)` as file
contents, and as secrets `Password(name)` (a generated password), `ConfigSecret(key)` (a secret
config value) and `HostKey(host)` (the host certificate's private key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from components.settings import Host


def placeholder(name: str) -> str:
    """How a rendered file refers to a secret; step_lib.sh substitutes the value on the host."""
    return "{{secret:" + name + "}}"


@dataclass(frozen=True)
class CaCert:
    """File content: the internal CA's certificate (PEM)."""


@dataclass(frozen=True)
class HostRef:
    host: str


class HostCert(HostRef):
    """File content: the certificate the internal CA issued to `host` (PEM)."""


class HostKey(HostRef):
    """Secret: the private key of `host`'s certificate."""


@dataclass(frozen=True)
class NamedRef:
    name: str


class Password(NamedRef):
    """Secret: the generated password `name` (a RandomPassword of the component that owns it)."""


class ConfigSecret(NamedRef):
    """Secret: a secret config value, by its key (`s3AccessKey`, ...)."""


FileValue = str | CaCert | HostCert
SecretValue = Password | ConfigSecret | HostKey

# The shared S3 key pair, by the secret names every component's files use for it.
SECRET_S3_ACCESS = "s3_access_key"
SECRET_S3_SECRET = "s3_secret_key"


def s3_credentials() -> dict[str, SecretValue]:
    return {SECRET_S3_ACCESS: ConfigSecret("s3AccessKey"), SECRET_S3_SECRET: ConfigSecret("s3SecretKey")}


def host_tls(host: Host, ca_file: str, cert_file: str, key_secret: str, key_file: str | None = None
             ) -> tuple[dict[str, FileValue], dict[str, SecretValue]]:
    """A host's TLS material as a step's files (CA, certificate) and secret (its private key);
    with `key_file`, also a file holding just the key (its placeholder, substituted on the host)."""
    files: dict[str, FileValue] = {ca_file: CaCert(), cert_file: HostCert(host.name)}
    if key_file:
        files[key_file] = placeholder(key_secret) + "\n"
    return files, {key_secret: HostKey(host.name)}


def bucket_ref(key: str) -> str:
    """The name a step's `after` uses for a bucket (`s3.buckets.<key>`)."""
    return f"bucket:{key}"


@dataclass(frozen=True)
class Step:
    """One idempotent script with its files on one host (see components/remote.py)."""

    name: str
    host: Host
    script: Path
    files: Mapping[str, FileValue] = field(default_factory=dict)
    secrets: Mapping[str, SecretValue] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    # Steps (by name, of any component registered earlier) and buckets (`bucket_ref`) to run after.
    after: tuple[str, ...] = ()
    # The script prints a secret (a kubeconfig read back): its output is secret and not logged.
    secret_output: bool = False


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...] = ()
    passwords: tuple[str, ...] = ()  # RandomPassword names this component generates (32 alphanumerics)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def on(self, host: str) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.host.name == host)
