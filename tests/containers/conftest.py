"""Container fixtures: the images of ``scripts/container-bases`` and a run that cleans up.

These tests run the gateway's image and the Compose stack for real with podman (root,
netavark networks of podman's own, ports published on 127.0.0.1 only). They are part of
``./scripts/test`` and never skipped: without podman the preparation installs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.podman import Images, leftovers, new_run_id, prepare_images, remove_everything


@pytest.fixture(scope="session")
def images() -> Images:
    """The stand-in bases and the gateway's image, built (or found in the cache) once a session."""
    return prepare_images()


@pytest.fixture(scope="module")
def run_id() -> Iterator[str]:
    """A label for everything a module creates; all of it is removed at the end, and checked."""
    run = new_run_id()
    try:
        yield run
    finally:
        remove_everything(run)
        assert leftovers(run) == [], f"left behind by {run}"
