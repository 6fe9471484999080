"""Local flat apt repository (`.lab/repo`, bind-mounted read-only at /srv/labrepo in each host).

The closure of `packages.txt` is resolved by the host's apt, isolated through APT_CONFIG from the
host's own configuration, against the *base image's* dpkg status: exactly the packages a lab host
lacks are downloaded (cached in `.lab/cache/debs`), then `dpkg-scanpackages` indexes them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from . import image
from .util import LabError, lab_dir, log, read_stamp, run, sha256_text, write_file

PACKAGES_TXT = Path(__file__).with_name("packages.txt")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
RECIPE_VERSION = "2"  # bump when the way the repository is built changes


def repo_dir() -> Path:
    return lab_dir() / "repo"


def wanted_packages(path: Path = PACKAGES_TXT) -> list[str]:
    out: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        for name in line.split():
            if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", name):
                raise LabError(f"{path.name}: not a Debian package name: {name!r}")
            out.append(name)
    return out


def _sources() -> str:
    lines = [f"deb [signed-by={KEYRING}] {image.mirror()} {image.SUITE} main"]
    lines += [f"deb [signed-by={KEYRING}] {uri} {suite} main" for uri, suite in image.extra_suites()]
    return "\n".join(lines) + "\n"


def _apt_env(work: Path, archives: Path) -> dict[str, str]:
    for d in ("parts", "sources.d", "prefs.d", "state/lists/partial", "cache", "log"):
        (work / d).mkdir(parents=True, exist_ok=True)
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    write_file(work / "sources.list", _sources())
    base = image.base_dir()
    conf = f"""\
Dir::Etc::main "/dev/null";
Dir::Etc::Parts "{work}/parts";
Dir::Etc::SourceList "{work}/sources.list";
Dir::Etc::SourceParts "{work}/sources.d";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "{work}/prefs.d";
Dir::State "{work}/state";
Dir::State::Lists "{work}/state/lists";
Dir::State::status "{base}/var/lib/dpkg/status";
Dir::State::extended_states "{work}/state/extended_states";
Dir::Cache "{work}/cache";
Dir::Cache::archives "{archives}";
Dir::Log "{work}/log";
Debug::NoLocking "true";
APT::Install-Recommends "true";
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "3";
"""
    write_file(work / "apt.conf", conf)
    return {"APT_CONFIG": str(work / "apt.conf"), "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}


def recipe_hash() -> str:
    stamp = read_stamp(image.base_dir().parent / f"{image.SUITE}.stamp")
    return sha256_text(RECIPE_VERSION, PACKAGES_TXT.read_text(), _sources(), stamp)


def repo_is_current() -> bool:
    return (repo_dir() / "Packages").exists() and read_stamp(lab_dir() / "repo.stamp") == recipe_hash()


def ensure_repo() -> bool:
    """(Re)build the repository when packages.txt (or the base) changed. True when rebuilt."""
    if repo_is_current():
        return False
    pkgs = wanted_packages()
    work = lab_dir() / "cache" / "apt"
    debs = lab_dir() / "cache" / "debs"
    log("repo", f"resolving {len(pkgs)} packages against the base image")
    env = _apt_env(work, debs)
    run(["apt-get", "update", "-q"], env=env, timeout=900)
    # The closure relative to the base: print-uris against an empty archive dir lists all of it.
    empty = work / "empty-archives"
    shutil.rmtree(empty, ignore_errors=True)
    (empty / "partial").mkdir(parents=True)
    cp = run(
        ["apt-get", "install", "-y", "-qq", "--print-uris", f"-oDir::Cache::archives={empty}", *pkgs],
        env=env,
        timeout=300,
    )
    closure: dict[str, tuple[int, str]] = {}  # file name -> (size, checksum or "")
    for line in cp.stdout.splitlines():
        m = re.match(r"^'([^']+)' (\S+) (\d+)( \S+)?\s*$", line)
        if m:
            closure[m.group(2)] = (int(m.group(3)), (m.group(4) or "").strip())
    if not closure:
        raise LabError("apt resolved an empty closure for packages.txt")
    unparsed = [ln for ln in cp.stdout.splitlines() if ln.startswith("'") and ln.split()[1] not in closure]
    if unparsed:
        raise LabError(f"could not parse apt --print-uris output: {unparsed[:3]}")
    missing = [f for f, (size, _) in closure.items() if not _deb_ok(debs / f, size)]
    total_mb = sum(closure[f][0] for f in missing) / 1e6
    log("repo", f"{len(closure)} .debs in the closure, downloading {len(missing)} ({total_mb:.0f} MB)")
    if missing:
        run(["apt-get", "install", "-y", "-q", "--download-only", *pkgs], env=env, timeout=1800)
    repo = repo_dir()
    repo.mkdir(parents=True, exist_ok=True)
    for f, (size, _) in closure.items():
        src, dst = debs / f, repo / f
        if not _deb_ok(src, size):
            raise LabError(f"apt did not download {f}")
        if not _deb_ok(dst, size):
            dst.unlink(missing_ok=True)
            os.link(src, dst)
    for p in repo.glob("*.deb"):
        if p.name not in closure:
            p.unlink()
    _index(repo)
    write_file(lab_dir() / "repo.stamp", recipe_hash() + "\n")
    log("repo", f"repository ready: {len(closure)} packages in {repo}")
    return True


def _deb_ok(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


def _index(repo: Path) -> None:
    cp = run(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], cwd=repo, timeout=600)
    packages = cp.stdout
    write_file(repo / "Packages", packages)
    tmp = repo / ".Packages.gz.tmp"
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(packages.encode())
    os.replace(tmp, repo / "Packages.gz")
    sums: dict[str, list[str]] = {"MD5Sum": [], "SHA256": []}
    for name in ("Packages", "Packages.gz"):
        data = (repo / name).read_bytes()
        sums["MD5Sum"].append(f" {hashlib.md5(data).hexdigest()} {len(data)} {name}")
        sums["SHA256"].append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    date = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S UTC")
    release = (
        "Origin: plab\nLabel: plab\nSuite: lab\nCodename: lab\n"
        f"Date: {date}\nArchitectures: amd64 all\nDescription: lab local repository\n"
        + "".join(f"{k}:\n" + "\n".join(v) + "\n" for k, v in sums.items())
    )
    write_file(repo / "Release", release)
