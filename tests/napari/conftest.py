"""napari fixtures: a real viewer (napari's own ``make_napari_viewer``), headless.

Qt runs on the ``offscreen`` platform (set in tests/conftest.py), but napari draws its canvas with
OpenGL, which Qt's offscreen platform only provides through an X server: pytest-xvfb starts a
virtual one (Xvfb) for the session when Xvfb is installed. Without OpenGL these tests are skipped
with that reason on a developer's machine, and fail in CI (``CI`` set), where they must run.
"""
from __future__ import annotations

import os
from functools import lru_cache

import pytest

pytest.importorskip("napari", reason="the napari plugin needs the 'napari' extra")

NO_GL = ("napari needs OpenGL, which needs an X server here: install Xvfb (Debian/Ubuntu: "
         "apt-get install xvfb) and pytest-xvfb starts it")


@lru_cache(maxsize=1)
def _opengl() -> bool:
    from qtpy.QtGui import QOffscreenSurface, QOpenGLContext

    context = QOpenGLContext()
    if not context.create():
        return False
    surface = QOffscreenSurface()
    surface.create()
    ok = context.makeCurrent(surface)
    context.doneCurrent()
    return bool(ok)


@pytest.fixture
def viewer(request, qapp):
    """A napari viewer (not shown), closed and checked for leaks by napari's fixture (asked for
    only once OpenGL is known to work: its teardown expects the test to have run)."""
    if not _opengl():
        if os.environ.get("CI"):
            pytest.fail(NO_GL)
        pytest.skip(NO_GL)
    return request.getfixturevalue("make_napari_viewer")()
