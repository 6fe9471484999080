"""Extract the configuration keys of Loki and the arguments of the Alloy components the platform
uses from their upstream reference documentation, as facts the unit tests check our rendered
configs against (neither program installs on the machines the tests run on).

    .venv/bin/python -m scripts.upstream_schemas LOKI_REPO ALLOY_REPO

LOKI_REPO / ALLOY_REPO: git directories of grafana/loki and grafana/alloy (e.g. from the library's
`fetch`). Writes tests/unit/data/loki-config-keys.json and tests/unit/data/alloy-components.json,
each naming the upstream commit it came from. Run it again when the pinned versions move.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "unit" / "data"
LOKI_DOC = "docs/sources/shared/configuration.md"
ALLOY_DOCS = "docs/sources/reference/components/loki"
# The Alloy components the platform's config uses (components/monitoring/render/loki.py).
ALLOY_COMPONENTS = ("loki.source.journal", "loki.relabel", "loki.write")

Tree = dict[str, Any]
_ENTRY = re.compile(r"^(\s*)\[([a-z0-9_]+): <([^>]+)>")
_NESTED = re.compile(r"^(\s*)([a-z0-9_]+):\s*$")


def _git_show(repo: str, path: str) -> tuple[str, str]:
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    text = subprocess.run(["git", "-C", repo, "show", f"HEAD:{path}"], capture_output=True, text=True,
                          check=True).stdout
    return commit, text


def _yaml_blocks(doc: str) -> dict[str, str]:
    """Section name -> its first ```yaml body. The root section ("Supported contents ...") is `root`."""
    out: dict[str, str] = {}
    for section in re.split(r"^### ", doc, flags=re.M)[1:]:
        title, _, rest = section.partition("\n")
        m = re.search(r"^```yaml\n(.*?)^```", rest, re.S | re.M)
        name = "root" if title.startswith("Supported contents") else title.strip()
        if m and re.fullmatch(r"[a-z0-9_]+", name):
            out.setdefault(name, m.group(1))
    return out


def _parse_block(body: str, blocks: set[str]) -> Tree:
    """One section's keys: leaf -> None, a nested map -> its tree, a block -> {"$ref": name}."""
    root: Tree = {}
    stack: list[tuple[int, Tree]] = [(-1, root)]
    for line in body.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _ENTRY.match(line) or _NESTED.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        key = m.group(2)
        if m.re is _NESTED:
            child: Tree = {}
            parent[key] = child
            stack.append((indent, child))
            continue
        kind = m.group(3)
        ref = kind.removeprefix("list of ")
        ref = ref if ref in blocks else ref.removesuffix("s")
        parent[key] = {"$ref": ref, "list": kind.startswith("list of ")} if ref in blocks else None
    return root


def loki_keys(repo: str) -> dict[str, Any]:
    commit, doc = _git_show(repo, LOKI_DOC)
    bodies = _yaml_blocks(doc)
    names = set(bodies)
    return {"source": f"grafana/loki {commit} {LOKI_DOC}",
            "blocks": {name: _parse_block(body, names) for name, body in sorted(bodies.items())}}


def _table_names(section: str) -> list[str]:
    """The first column of every markdown table row in `section` (backquoted names)."""
    return re.findall(r"^\|\s*\[?`([a-z0-9_]+)`", section, re.M)


def _with_includes(repo: str, text: str) -> str:
    """`text` with each `{{< docs/shared lookup="X" ... >}}` replaced by the shared page X."""
    def sub(m: re.Match[str]) -> str:
        return _git_show(repo, f"docs/sources/shared/{m.group(1)}")[1]

    return re.sub(r'\{\{< docs/shared lookup="([^"]+)"[^\n]*?>\}\}', sub, text)


def alloy_components(repo: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    commit = ""
    for comp in ALLOY_COMPONENTS:
        commit, doc = _git_show(repo, f"{ALLOY_DOCS}/{comp}.md")
        sections = re.split(r"^(#{2,3}) (.+)$", doc, flags=re.M)
        args: list[str] = []
        blocks: dict[str, list[str]] = {}
        exports: list[str] = []
        for i in range(1, len(sections) - 2, 3):
            title, text = sections[i + 1].strip(), sections[i + 2]
            if title == "Arguments":
                args = _table_names(text)
            elif title == "Exported fields":
                exports = _table_names(text)
            elif title.startswith("`") and sections[i] == "###":
                blocks[title.strip("`")] = _table_names(_with_includes(repo, text))
        out[comp] = {"arguments": sorted(set(args)), "blocks": {k: sorted(set(v)) for k, v in blocks.items()},
                     "exports": sorted(set(exports))}
    return {"source": f"grafana/alloy {commit} {ALLOY_DOCS}", "components": out}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "loki-config-keys.json").write_text(json.dumps(loki_keys(argv[0]), indent=1, sort_keys=True) + "\n")
    (OUT / "alloy-components.json").write_text(
        json.dumps(alloy_components(argv[1]), indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
