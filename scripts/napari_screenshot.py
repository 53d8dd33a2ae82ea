"""Make docs/napari-widget.png: the MicroGAN napari widget after restoring the shipped BCCD field.

Everything is real: napari's own window screenshot (``Viewer.screenshot(canvas_only=False)``) of the
blurred sample field (File > Open Sample > MicroGAN) restored by the bundled model through the dock
widget, shown beside its input in napari's grid mode. Headless: the window lives on a virtual X
server (Xvfb) started here, so nothing appears on any screen.

Unlike the tests, Qt runs on its ``xcb`` platform (on that virtual display), not ``offscreen``:
Qt's offscreen platform does not draw napari's OpenGL canvas into screenshots (measured with this
script's set-up on 2026-11-30: canvas mean grey level 0.0004, i.e. black, on ``offscreen`` vs 167
on ``xcb``; PyQt6 even reports "QOpenGLWidget is not supported on this platform"). The tests only
need the canvas to exist, not its pixels, so they keep ``offscreen``.

    .venv/bin/python scripts/napari_screenshot.py [--out docs/napari-widget.png]

Needs ``pip install -e '.[dev]'`` (napari, pyvirtualdisplay) and, on Debian/Ubuntu,
``apt-get install xvfb libxcb-icccm4 libxcb-keysyms1`` (Xvfb, and what Qt's xcb plugin links to).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOW = (1500, 820)
#: Largest width written: keeps the PNG small (well under 500 KB) and readable in the README.
MAX_WIDTH = 1200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "napari-widget.png")
    args = parser.parse_args(argv)
    from pyvirtualdisplay import Display

    os.environ["QT_QPA_PLATFORM"] = "xcb"
    display = Display(backend="xvfb", size=WINDOW, color_depth=24).start()  # sets DISPLAY
    try:
        shot = _screenshot()
    finally:
        display.stop()
    import cv2

    from microgan.data.io import write_image

    if shot.shape[1] > MAX_WIDTH:
        height = round(shot.shape[0] * MAX_WIDTH / shot.shape[1])
        shot = cv2.resize(shot, (MAX_WIDTH, height), interpolation=cv2.INTER_AREA)
    write_image(args.out, shot, overwrite=True)
    print(f"wrote {args.out} ({shot.shape[1]}x{shot.shape[0]}, {args.out.stat().st_size / 1024:.0f} KB)")
    return 0


def _screenshot():
    import napari
    from qtpy.QtWidgets import QApplication

    from microgan.napari.widget import RestoreWidget

    viewer = napari.Viewer(title="MicroGAN in napari", show=True)  # on the virtual display
    viewer.window.resize(*WINDOW)
    viewer.open_sample("microgan", "bccd-blurred")
    widget = RestoreWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Restore (MicroGAN)", area="right")
    widget.device.value = "cpu"
    widget.run()
    start = time.monotonic()
    while widget.worker is not None:
        if time.monotonic() - start > 600:
            raise SystemExit("restoration did not finish in 10 minutes")
        QApplication.processEvents()
        time.sleep(0.05)
    if len(viewer.layers) != 2:
        raise SystemExit(f"restoration failed: {widget.status.value}")
    viewer.grid.enabled = True  # input | restored, side by side
    viewer.grid.stride = 1      # napari fills the grid from the top of the layer list: restored on the right
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    shot = viewer.screenshot(canvas_only=False, flash=False)[:, :, :3]
    viewer.close()
    return shot


if __name__ == "__main__":
    sys.exit(main())
