"""The tree drawn in ``gateway/exceptions.py``'s docstring is the tree its classes make.

The drawing is what a newcomer reads first; it must not drift from the code
(issue 17 found two classes missing from it). Parsed from the docstring,
compared with ``__subclasses__`` and the builtin bases shown in parentheses.
"""

from __future__ import annotations

import inspect
import re

from gateway import exceptions

_LINE = re.compile(
    r"^(?P<indent>[│ ]*)(?:[├└]── )?(?P<name>[A-Z][A-Za-z]+)(?: \((?P<builtin>\w+)\))?"
)


def _drawn() -> dict[str, tuple[str | None, str | None]]:
    """Each class drawn: (its parent in the drawing, the builtin named beside it)."""
    doc = exceptions.__doc__ or ""
    block = doc.split("::", 1)[1]
    parents: list[tuple[int, str]] = []
    drawn: dict[str, tuple[str | None, str | None]] = {}
    for raw in block.splitlines():
        line = raw[4:] if raw.startswith("    ") else raw
        match = _LINE.match(line)
        if not line.strip() or match is None:
            continue
        branch = line.lstrip("│ ").startswith(("├", "└"))
        depth = len(match.group("indent")) // 4 + (1 if branch else 0)
        while parents and parents[-1][0] >= depth:
            parents.pop()
        drawn[match.group("name")] = (parents[-1][1] if parents else None, match.group("builtin"))
        parents.append((depth, match.group("name")))
    return drawn


def _coded() -> dict[str, tuple[str | None, str | None]]:
    coded: dict[str, tuple[str | None, str | None]] = {}
    for name, cls in inspect.getmembers(exceptions, inspect.isclass):
        if not issubclass(cls, exceptions.GatewayError) or cls.__module__ != exceptions.__name__:
            continue
        ours = [b for b in cls.__bases__ if issubclass(b, exceptions.GatewayError)]
        builtins = [b.__name__ for b in cls.__bases__ if b.__module__ == "builtins"]
        parent = ours[0].__name__ if ours else None
        builtin = builtins[0] if builtins and builtins[0] != "Exception" else None
        coded[name] = (parent, builtin)
    return coded


def test_the_drawn_tree_is_the_class_tree() -> None:
    assert _drawn() == _coded()


def test_the_parser_sees_a_drawing_that_differs() -> None:
    drawn = _drawn()
    assert drawn["ConcurrencyExceeded"] == ("RateLimited", None)
    assert drawn["UpstreamTimeout"] == ("UpstreamError", "TimeoutError")
    assert drawn["GatewayError"] == (None, None)


def test_every_class_names_its_own_problem_slug() -> None:
    """The slug is the class's own (a class keyword), never borrowed from its parent:
    two errors answered alike would be told apart by nobody reading the journal."""
    classes = [
        cls
        for _, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, exceptions.GatewayError)
    ]
    slugs = [cls.slug for cls in classes]
    assert len(set(slugs)) == len(classes)
    assert exceptions.slug_of(ValueError()) == "internal-error"
