"""The lab's stack state: `.lab/state.json` (mode 0600), what `pulumi up` keeps in a stack's state.

    {"version": 2,
     "resources": {URN: {"type", "name", "custom", "parent", "dependencies", "id",
                         "inputs":  recorded inputs (secret values only as {"secretSha256": ...}),
                         "outputs": recorded outputs (see below),
                         "host", "host_id":   steps: the lab host and its incarnation (machine-id),
                         "s3_id":             buckets: the lab S3 server's incarnation,
                         "at": UTC time of the create/update}},
     "outputs": the stack outputs of the last successful apply (wire form, secrets marked),
     "config": the `--set` overlay that apply used (scripts/verify and the drills read it)}

A record is written when its create/update/replace succeeded, and only then (a failed step keeps
its previous record, or none: the next `up` retries it). Outputs: a step's stdout/stderr with every
secret value it received masked (`***`, as the lab's log shows them); random passwords and tls
keys/certificates in full - they are the lab's generated secrets, reused while their inputs stay
equal. A state of the previous format (generated values only) is read as "legacy": its values
are adopted by the resources that create them again with the same inputs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any

VERSION = 2


class LabState:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        if data and data.get("version") != VERSION:
            data = {"version": VERSION, "resources": {}, "outputs": data.get("outputs", {}),
                    "legacy": {k: v for k, v in data.items() if k != "outputs"}}
        data.setdefault("version", VERSION)
        data.setdefault("resources", {})
        self.data = data

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.data["resources"]  # type: ignore[no-any-return]

    def get(self, urn: str) -> dict[str, Any] | None:
        with self._lock:
            rec = self.resources.get(urn)
            return dict(rec) if rec is not None else None

    def put(self, urn: str, record: dict[str, Any]) -> None:
        record = dict(record, at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        with self._lock:
            self.resources[urn] = record
            self._save()

    def drop(self, urn: str) -> None:
        with self._lock:
            self.resources.pop(urn, None)
            self._save()

    def legacy_value(self, key: str, fingerprint: str) -> Any:
        """A generated value of the previous state format, when it was made for equal inputs."""
        entry = (self.data.get("legacy") or {}).get(key)
        if isinstance(entry, dict) and entry.get("fingerprint") == fingerprint:
            return entry.get("value")
        return None

    def finish(self, outputs: dict[str, Any], config: dict[str, Any]) -> None:
        """After a successful apply: the stack outputs and the config overlay it used."""
        with self._lock:
            self.data["outputs"] = {"fingerprint": "", "value": outputs}
            self.data["config"] = config
            self.data.pop("legacy", None)
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)


def read(path: Path) -> dict[str, Any]:
    """The state file's data without locking (readers: verify, drills); {} when absent."""
    return LabState(path).data if path.exists() else {}
