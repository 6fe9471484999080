"""The lab's Python API for apply / verify / drills (also re-exported by `scripts.lablib`)."""

from __future__ import annotations

from .hosts import BRIDGE, host_pid, memory_mib, netns, pause, resume, start, stop, veth
from .image import key_path
from .inventory import LabHost, hosts
from .s3 import ca_cert_path, s3_credentials, s3_endpoint, s3_local_endpoint
from .ssh import ssh_argv, ssh_run
from .util import lab_dir

__all__ = [
    "BRIDGE",
    "LabHost",
    "ca_cert_path",
    "host_pid",
    "hosts",
    "key_path",
    "lab_dir",
    "memory_mib",
    "netns",
    "pause",
    "resume",
    "s3_credentials",
    "s3_endpoint",
    "s3_local_endpoint",
    "ssh_argv",
    "ssh_run",
    "start",
    "stop",
    "veth",
]
