"""Every host file of a program run, and the checks each must pass: no control characters but
newline and tab, no injected line, and by kind the real tool where one is installed (YAML/JSON
parsers, `bash -n`, `haproxy -c`, `nft -c`, `promtool check rules`, `amtool check-config`).
Shared by the property test (mutated stacks) and the sizing matrix."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from components.remote import read_bundle
from scripts.program import Run, unwrap

INJECTED = "INJECTED_LINE"  # what the property test appends after a newline; must never start a line
BAD_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def host_files(run: Run) -> Iterator[tuple[str, str, str]]:
    """(step, file name, text) for every file of every step."""
    for r in run.records:
        if r.type != "command:remote:Command":
            continue
        for member, text in sorted(read_bundle(unwrap(r.inputs["stdin"])).items()):
            if not member.startswith("secrets/"):
                yield r.name, member.removeprefix("files/"), text


def _tool(argv: list[str], text: str, suffix: str, env: dict[str, str] | None = None) -> str | None:
    """Run a checker on `text` written to a temporary file; the error, or None."""
    if shutil.which(argv[0]) is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"file{suffix}"
        if suffix == ".cfg":  # haproxy opens its CA file: give it a real one
            ca = Path(d) / "ca.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", str(Path(d) / "ca.key"), "-out", str(ca), "-days", "1",
                            "-subj", "/CN=test-ca"], capture_output=True, check=True)
            text = re.sub(r"ca-file \S+", f"ca-file {ca}", text)
        path.write_text(text)
        cp = subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, **(env or {})})
    return None if cp.returncode == 0 else (cp.stdout + cp.stderr)[-800:]


def check_file(name: str, text: str) -> str | None:
    """Why this host file is broken, or None."""
    m = BAD_CONTROL.search(text)
    if m:
        return f"control character {m.group()!r} at offset {m.start()}"
    if any(line.lstrip().startswith(INJECTED) for line in text.splitlines()):
        return "a config value added a line of its own (newline injection)"
    base = name.rsplit("/", 1)[-1]
    try:
        if base.endswith((".yml", ".yaml")):
            yaml.safe_load(text)
        elif base.endswith(".json"):
            json.loads(text)
    except (yaml.YAMLError, ValueError) as e:
        return f"does not parse: {e}"
    if base.endswith(".sh") or text.startswith("#!/bin/sh") or text.startswith("#!/usr/bin/env bash") \
            or text.startswith("#!/bin/bash"):
        return _tool(["bash", "-n"], text, ".sh")
    if base == "haproxy.cfg":
        return _tool(["haproxy", "-c", "-f"], text, ".cfg", {"PLATFORM_PRIVATE_IP": "127.0.0.1"})
    if base == "platform.nft" and os.geteuid() == 0:
        return _tool(["nft", "-c", "-f"], text, ".nft")
    if base.startswith("rules-") and base.endswith(".yml"):
        return _tool(["promtool", "check", "rules"], text, ".yml")
    if base == "alertmanager.yml":
        return _tool(["amtool", "check-config"], text, ".yml")
    if base == "90-platform.cnf":
        return mariadbd_check(text)
    return None


MARIADBD = "/usr/sbin/mariadbd"


def mariadbd_check(text: str) -> str | None:
    """MariaDB's own option parser on a server configuration (`--help --verbose` reads every option
    and refuses an unknown one or a bad value); None where MariaDB is not installed."""
    if not Path(MARIADBD).exists():
        return None
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "server.cnf"
        path.write_text(text)
        cp = subprocess.run([MARIADBD, f"--defaults-file={path}", "--user=root", "--help", "--verbose"],
                            capture_output=True, text=True, timeout=60)
    errors = [ln for ln in cp.stderr.splitlines() if "[ERROR]" in ln]
    return None if cp.returncode == 0 and not errors else "\n".join(errors)[-800:] or f"exit {cp.returncode}"


def broken_files(run: Run) -> list[str]:
    out = []
    for step, name, text in host_files(run):
        why = check_file(name, text)
        if why:
            out.append(f"{step}/{name}: {why}")
    return out
