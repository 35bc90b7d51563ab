"""Writes the answer component schemas of ``openapi.json`` from the answer shapes.

``python -m gateway.render.openapi_schemas --write`` after changing a shape
(:mod:`.shapes`, :mod:`.answer_shapes`); ``--check`` (the default) exits 1
when the file differs, as the unit test does. Only the answer components are
rewritten, each in place: the paths, the request schemas and every other
component stay as they are, so concurrent edits of the document merge.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any, Final

from gateway.render.answer_shapes import NAMED, SHAPES, evidence_given

DOCUMENT: Final = Path(__file__).resolve().parent.parent / "interfaces" / "openapi.json"


def answer_components() -> dict[str, dict[str, Any]]:
    """Every answer component schema, by name."""
    components = {shape.name: shape.json_schema() for shape in SHAPES}
    components["EvidenceGiven"] = evidence_given()  # the evidence object, or null
    components.update(copy.deepcopy(NAMED))
    return components


def with_answer_components(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` whose answer components are the generated ones."""
    updated = copy.deepcopy(document)
    schemas = updated.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in answer_components().items():
        schemas[name] = schema  # an existing key keeps its place
    return updated


def render(document: dict[str, Any]) -> str:
    """The document as the repository keeps it."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def regenerated(path: Path = DOCUMENT) -> tuple[str, str]:
    """The file's text now, and as it should be."""
    current = path.read_text(encoding="utf-8")
    return current, render(with_answer_components(json.loads(current)))


def main(argv: list[str] | None = None) -> int:
    """``--write`` rewrites the file; otherwise exit 1 if it is out of date."""
    parser = argparse.ArgumentParser(prog="python -m gateway.render.openapi_schemas")
    parser.add_argument("--write", action="store_true", help="rewrite openapi.json")
    parser.add_argument("--path", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    current, wanted = regenerated(args.path)
    if current == wanted:
        return 0
    if args.write:
        args.path.write_text(wanted, encoding="utf-8")
        print(f"rewrote the answer schemas of {args.path}")
        return 0
    print(f"{args.path}: answer schemas out of date; run with --write", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
