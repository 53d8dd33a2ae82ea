"""The evaluation's two outputs: ``report.json`` for machines and ``report.html`` for people.

``report.json`` follows ``templates/report.schema.json`` (required: ``split``, ``n_images``,
``methods.NAME.{psnr, ssim, psnr_std, ssim_std, params, time_s}``; a few documented extras). It holds
no NaN or infinity, so any JSON parser reads it.

``report.html`` is one self-contained file: styles inline, every picture a base64 PNG ``data:`` URI,
no scripts and no external assets, so it can be mailed or attached to a lab notebook and still open.
Crops are shown at their stored pixels (``image-rendering: pixelated``), small ones zoomed by an
integer factor, because a resampled thumbnail would hide exactly the detail the table is about.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Dict, List, Mapping, Optional, Tuple

import cv2
import numpy as np

from microgan.core.metrics import PSNR_CAP_DB
from microgan.evaluate.runner import CropScore, Evaluation, MethodSummary

N_WORST = 4
#: Crops are zoomed so their longer side reaches about this many CSS pixels (integer factor, 1..4).
TARGET_SIDE = 128


def load_schema() -> Dict[str, Any]:
    """The JSON schema ``report.json`` follows (shipped with the package)."""
    text = resources.files("microgan.evaluate").joinpath("templates/report.schema.json").read_text("utf-8")
    return json.loads(text)


def _round(value: Optional[float], digits: int = 6) -> Optional[float]:
    return None if value is None else round(float(value), digits)


def build_report(
    evaluation: Evaluation, data: Optional[str] = None, tuning: Optional[Mapping[str, Any]] = None
) -> Dict[str, Any]:
    """The ``report.json`` document for one evaluation (see the schema for every key)."""
    methods: Dict[str, Any] = {}
    for method in evaluation.methods:
        s = evaluation.summary(method.name)
        entry: Dict[str, Any] = {
            "psnr": _round(s.psnr),
            "ssim": _round(s.ssim),
            "psnr_std": _round(s.psnr_std),
            "ssim_std": _round(s.ssim_std),
            "params": method.params,
            "time_s": _round(s.time_s, 9),
            "kind": method.kind,
            "settings": dict(method.settings),
            "n_psnr_capped": s.n_psnr_capped,
            "vif": _round(s.vif),
            "ms_ssim": _round(s.ms_ssim),
            "hf_ratio": _round(s.hf_ratio),
        }
        if math.isfinite(s.megapixels_per_s):
            entry["megapixels_per_s"] = _round(s.megapixels_per_s)
        if method.val_psnr is not None:
            entry["val_psnr"] = _round(method.val_psnr)
        methods[method.name] = entry
    report: Dict[str, Any] = {
        "split": evaluation.split,
        "n_images": len(evaluation.crops),
        "methods": methods,
        "psnr_cap_db": PSNR_CAP_DB,
        "n_ssim_skipped": evaluation.n_ssim_skipped,
    }
    if data is not None:
        report["data"] = data
    if tuning is not None:
        report["tuning"] = dict(tuning)
    return report


def text_table(report: Mapping[str, Any]) -> str:
    """The report's table as aligned plain text, for the terminal."""
    header = ("method", "PSNR dB", "+-", "SSIM", "+-", "params", "ms/image", "MP/s")
    rows = [header]
    for name, m in report["methods"].items():
        rows.append((
            name,
            f"{m['psnr']:.2f}",
            f"{m['psnr_std']:.2f}",
            _fmt(m["ssim"], ".4f"),
            _fmt(m["ssim_std"], ".4f"),
            "-" if m["params"] is None else f"{m['params'] / 1e6:.3f}M",
            f"{m['time_s'] * 1000:.1f}",
            _fmt(m.get("megapixels_per_s"), ".2f"),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [f"{report['split']} split, {report['n_images']} crops"]
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def verdicts(report: Mapping[str, Any]) -> List[str]:
    """For each model, the issue's question in one sentence: does it beat the blurred input and the
    best classical baseline in both PSNR and SSIM, and by how much (or by how much not)?"""
    methods = report["methods"]
    baselines = {n: m for n, m in methods.items() if m.get("kind") == "baseline"}
    lines = []
    for name, model in methods.items():
        if model.get("kind") != "model":
            continue
        parts, failed = [], []
        for metric, unit, spec in (("psnr", " dB", "+.2f"), ("ssim", "", "+.4f")):
            rivals = {n: m[metric] for n, m in baselines.items() if m[metric] is not None}
            if model[metric] is None or not rivals:
                continue
            best = max(rivals, key=rivals.get)
            delta = model[metric] - rivals[best]
            label = "the blurred input" if best == "identity" else f"best baseline {best}"
            parts.append(f"{metric.upper()} {format(delta, spec)}{unit} vs {label}")
            if "identity" in rivals and best != "identity":
                parts[-1] += f" ({format(model[metric] - rivals['identity'], spec)}{unit} vs input)"
            if delta <= 0:
                failed.append(f"{metric.upper()} ({best})")
        if parts:
            verdict = "beats every baseline" if not failed else "does not beat " + ", ".join(failed)
            lines.append(f"{name}: {'; '.join(parts)}: {verdict}.")
    return lines


# ----------------------------------------------------------------------------- choosing crops


def primary_method(evaluation: Evaluation) -> str:
    """Whose worst cases the page shows: the first model, else the best baseline by mean PSNR."""
    models = [m.name for m in evaluation.methods if m.kind == "model"]
    if models:
        return models[0]
    return max(evaluation.methods, key=lambda m: evaluation.summary(m.name).psnr).name


def pick_examples(evaluation: Evaluation) -> List[Tuple[str, str]]:
    """``(title, crop id)`` for a small, a medium and a large crop: the 5th, 50th and 95th
    percentile of area (fewer when the split has fewer distinct crops)."""
    by_area = sorted(evaluation.crops, key=lambda c: (c.pixels, c.id))
    chosen: List[Tuple[str, str]] = []
    for title, q in (("Small crop", 0.05), ("Medium crop", 0.5), ("Large crop", 0.95)):
        crop_id = by_area[min(int(q * len(by_area)), len(by_area) - 1)].id
        if crop_id not in (c for _, c in chosen):
            chosen.append((title, crop_id))
    return chosen


def worst_cases(evaluation: Evaluation, method: str, n: int = N_WORST) -> List[str]:
    """Ids of the ``n`` crops where ``method`` gains least PSNR over the blurred input."""
    ranked = sorted(evaluation.crops, key=lambda c: (c.psnr[method] - c.psnr_input, c.id))
    return [c.id for c in ranked[:n]]


# ----------------------------------------------------------------------------- HTML pieces


def png_data_uri(array: np.ndarray) -> str:
    """An image as a ``data:image/png;base64`` URI (16-bit shown as 8-bit: browsers do that anyway)."""
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = np.rint(np.clip(array, 0, 1) * 255).astype(np.uint8)
    bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise ValueError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _fmt(value: Optional[float], spec: str) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _params(n: Optional[int]) -> str:
    return "&ndash;" if n is None else f"{n / 1e6:.3f} M"


def _settings(settings: Mapping[str, Any]) -> str:
    return html.escape(", ".join(f"{k}={v}" for k, v in settings.items()))


def results_table(evaluation: Evaluation) -> str:
    """The Table-3 style summary; the best value of each quality/speed column in bold green."""
    summaries = {m.name: evaluation.summary(m.name) for m in evaluation.methods}
    mean_input = float(np.mean([c.psnr_input for c in evaluation.crops]))

    def best(key: str, highest: bool = True) -> Optional[float]:
        """Best over the restorers: the identity 'wins' nothing worth marking (its time is a copy)."""
        values = [getattr(s, key) for n, s in summaries.items() if n != "identity" and getattr(s, key) is not None]
        return (max if highest else min)(values) if values else None

    top = {"psnr": best("psnr"), "ssim": best("ssim"), "vif": best("vif"), "ms_ssim": best("ms_ssim"),
           "time_s": best("time_s", highest=False)}
    rows = []
    for method in evaluation.methods:
        s: MethodSummary = summaries[method.name]

        def cell(key: str, text: str) -> str:
            mark = " best" if top.get(key) is not None and getattr(s, key) == top[key] else ""
            return f'<td class="num{mark}">{text}</td>'

        rows.append(
            f'<tr class="{method.kind}"><td class="name">{html.escape(method.name)} '
            f'<span class="kind">{method.kind}</span></td>'
            + cell("psnr", f"{s.psnr:.2f} &plusmn; {s.psnr_std:.2f}")
            + f'<td class="num">{s.psnr - mean_input:+.2f}</td>'
            + cell("ssim", f"{_fmt(s.ssim, '.4f')} &plusmn; {_fmt(s.ssim_std, '.4f')}")
            + cell("vif", _fmt(s.vif, ".4f"))
            + cell("ms_ssim", _fmt(s.ms_ssim, ".4f"))
            + f'<td class="num">{_fmt(s.hf_ratio, ".3f")}</td>'
            + f'<td class="num">{_params(method.params)}</td>'
            + cell("time_s", f"{s.time_s * 1000:.1f}")
            + f'<td class="num">{_fmt(s.megapixels_per_s, ".2f")}</td>'
            + f'<td class="settings">{_settings(method.settings)}</td></tr>'
        )
    head = (
        '<tr><th class="name">Method</th><th>PSNR (dB)</th><th>&Delta; vs input</th><th>SSIM</th>'
        '<th>VIF</th><th>MS-SSIM</th><th title="high-frequency power over the truth\'s; 1 = as sharp">HF ratio</th>'
        "<th>Params</th><th>Time / image (ms)</th><th>MP/s</th><th class=\"name\">Settings</th></tr>"
    )
    return f'<table class="results"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def notes_html(evaluation: Evaluation, tuning: Optional[Mapping[str, Any]]) -> str:
    notes = [f"<b>{html.escape(v)}</b>" for v in verdicts(build_report(evaluation))]
    notes.append("Mean &plusmn; standard deviation over crops; PSNR and SSIM computed by scikit-image on the 8/16-bit values; "
                 "VIF (crops of 41 px or more) and MS-SSIM by torchmetrics; HF ratio: power in the upper half of the "
                 "frequency band over the truth's (1 = as sharp as the truth, below 1 blurred, above 1 over-sharpened or noisy).")
    skipped = evaluation.n_ssim_skipped
    if skipped:
        notes.append(f"{skipped} crop(s) under 3 px on a side have no SSIM window and are left out of the SSIM columns.")
    capped = {m.name: evaluation.summary(m.name).n_psnr_capped for m in evaluation.methods}
    capped = {k: v for k, v in capped.items() if v}
    if capped:
        listed = ", ".join(f"{html.escape(k)}: {v}" for k, v in capped.items())
        notes.append(f"Identical to HR (PSNR capped at {PSNR_CAP_DB:g} dB): {listed}.")
    if tuning:
        notes.append(
            f"Baselines tuned for best mean PSNR on {tuning['n_images']} crop(s) of the "
            f"{html.escape(str(tuning['split']))} split, then frozen."
        )
    notes.append("Times: wall clock of the restore call only, after one untimed warm-up, in this run.")
    return "".join(f'<p class="note">{n}</p>' for n in notes)


def gain_plot(evaluation: Evaluation) -> str:
    """Per-crop PSNR gain against crop size (sqrt of area) as an embedded PNG, median line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = np.array([math.sqrt(c.pixels) for c in evaluation.crops])
    fig, ax = plt.subplots(figsize=(10, 4.6), dpi=100)
    ax.axhline(0.0, color="#888", lw=1)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    edges = np.unique(np.quantile(size, np.linspace(0, 1, 9)))
    shown = [m for m in evaluation.methods if m.name != "identity"]
    for i, method in enumerate(shown):
        gain = np.array([c.psnr[method.name] - c.psnr_input for c in evaluation.crops])
        colour = colours[i % len(colours)]
        ax.scatter(size, gain, s=7, alpha=0.3, color=colour, linewidths=0)
        if len(edges) > 2:
            which = np.clip(np.digitize(size, edges[1:-1]), 0, len(edges) - 2)
            centres, medians = [], []
            for b in range(len(edges) - 1):
                if (which == b).any():
                    centres.append(float(np.median(size[which == b])))
                    medians.append(float(np.median(gain[which == b])))
            ax.plot(centres, medians, color=colour, lw=2, marker="o", ms=4, label=method.name)
        else:
            ax.plot([], [], color=colour, lw=2, label=method.name)
    if size.max() / max(size.min(), 1e-9) > 4:
        from matplotlib.ticker import LogLocator, ScalarFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(ScalarFormatter() if size.max() / size.min() < 20 else plt.NullFormatter())
    ax.set_xlabel("crop size: sqrt(height x width), pixels")
    ax.set_ylabel("PSNR gain over LR input (dB)")
    ax.grid(True, alpha=0.3)
    if shown:
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=9, frameon=False, ncol=min(len(shown), 5))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="PSNR gain versus crop size" src="{uri}">'


def zoom_for(height: int, width: int, target: int = TARGET_SIDE) -> int:
    """The integer zoom that brings the longer side near ``target`` px (1 to 4x)."""
    return int(min(4, max(1, target // max(height, width, 1))))


def _side(crop: CropScore) -> str:
    return f"{crop.width}&times;{crop.height}"


def example_strip(title: str, crop: CropScore, images: Mapping[str, np.ndarray], note: str = "",
                  target: int = TARGET_SIDE) -> str:
    """One row: LR, every method, HR, each at native size times an integer zoom (longer side near
    ``target`` px)."""
    zoom = zoom_for(crop.height, crop.width, target)
    figures = []
    for name, array in images.items():
        if name == "identity":  # the same pixels as LR, already shown first
            continue
        if name == "LR":
            caption = f"{crop.psnr_input:.2f} dB"
        elif name == "HR":
            caption = "reference"
        else:
            caption = f"{crop.psnr[name]:.2f} dB / {_fmt(crop.ssim[name], '.3f')}"
        figures.append(
            f'<figure><img alt="{html.escape(name)}" width="{crop.width * zoom}" height="{crop.height * zoom}" '
            f'src="{png_data_uri(array)}"><figcaption><b>{html.escape(name)}</b>{caption}</figcaption></figure>'
        )
    meta = [f"{html.escape(crop.id)}: {_side(crop)} px"]
    meta += [html.escape(crop.label)] if crop.label else []
    meta += [f"shown at {zoom}&times;"] if zoom > 1 else []
    meta += [note] if note else []
    head = f'<h3>{html.escape(title)} <span class="meta">{", ".join(meta)}</span></h3>'

    return head + f'<div class="strip">{"".join(figures)}</div>'


def render_html(
    evaluation: Evaluation,
    images: Mapping[str, Mapping[str, np.ndarray]],
    data: Optional[str] = None,
    tuning: Optional[Mapping[str, Any]] = None,
) -> str:
    """The whole page. ``images`` maps crop id to ``{"LR", method..., "HR"}`` arrays for at least
    :func:`example_ids` (from :func:`microgan.evaluate.runner.restore_examples`)."""
    crops = {c.id: c for c in evaluation.crops}
    primary = primary_method(evaluation)
    examples = "".join(example_strip(title, crops[i], images[i]) for title, i in pick_examples(evaluation))
    worst = "".join(
        example_strip(
            f"Worst #{rank}", crops[i], images[i], f"gain {crops[i].psnr[primary] - crops[i].psnr_input:+.2f} dB"
        )
        for rank, i in enumerate(worst_cases(evaluation, primary), start=1)
    )
    smallest = min(evaluation.crops, key=lambda c: c.pixels)
    largest = max(evaluation.crops, key=lambda c: c.pixels)
    median = int(np.median([c.pixels for c in evaluation.crops]))
    source = f" from <code>{html.escape(data)}</code>" if data else ""
    lead = (
        f"{len(evaluation.crops)} crops at native size{source}; sizes from {_side(smallest)} to "
        f"{_side(largest)} px (median area {median} px&sup2;)."
    )
    template = Template(_template())
    return template.substitute(
        split=html.escape(evaluation.split),
        lead=lead,
        table=results_table(evaluation),
        notes=notes_html(evaluation, tuning),
        plot=gain_plot(evaluation),
        examples=examples,
        primary=html.escape(primary),
        worst=worst,
    )


def _template() -> str:
    return resources.files("microgan.evaluate").joinpath("templates/report.html").read_text("utf-8")


def stylesheet() -> str:
    """The report page's ``<style>`` element, for other pages built from these pieces (the demo's)."""
    page = _template()
    return page[page.index("<style>") : page.index("</style>") + len("</style>")]


def example_ids(evaluation: Evaluation) -> List[str]:
    """Every crop the page shows (size examples and worst cases), each once: restore these."""
    ids = [i for _, i in pick_examples(evaluation)] + worst_cases(evaluation, primary_method(evaluation))
    return list(dict.fromkeys(ids))


def write_html(path: Path, page: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(page, encoding="utf-8")
