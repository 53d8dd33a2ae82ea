"""The demo's one page (``OUT/report.html``): the answer first, then the evidence.

It opens with one sentence per section and case (the headline model, Richardson-Lucy told the same
PSF, the blurred input), then for each case a few cells at native size, zoomed: input, each model,
Richardson-Lucy, truth; then that case's table. Self-contained (images inline, no scripts, nothing
fetched), so it can be mailed or archived; the numbers of every crop are in ``details/*.json``.
Built from :mod:`microgan.evaluate.report`'s pieces, so its tables and strips read like ``evaluate``'s.
"""
from __future__ import annotations

import html
from typing import List

from microgan.evaluate import report as rep

#: Cells are zoomed (by an integer, nearest neighbour) until their longer side is near this many pixels.
ZOOM_TARGET = 260
INTRO = ("Single cells cut from real fields, blurred with the paper's 15x15 Gaussian (sigma 2.6), then "
         "restored. Richardson-Lucy is told each crop's exact PSF and tuned on crops that are never scored; "
         "a model <i>told the PSF</i> gets the same PSF, a <i>blind</i> one nothing.")


def _score(psnr: float, ssim) -> str:
    return f"{psnr:.2f} dB / {'n/a' if ssim is None else f'{ssim:.4f}'}"


def _sentence(case) -> str:
    """Every model's score against Richardson-Lucy's and the input's, one sentence."""
    h = case.headline
    parts = [f"<b>{html.escape(x.label)}</b> {_score(x.psnr[x.model], x.ssim[x.model])}" for x in case.headlines]
    rl = f"Richardson-Lucy told the PSF {_score(h.psnr['richardson-lucy'], h.ssim['richardson-lucy'])}"
    blurred = f"the blurred input {_score(h.psnr['identity'], h.ssim['identity'])}"
    return ", ".join(parts) + f"; {rl}; {blurred} (PSNR / SSIM, mean over {len(case.evaluation.crops)} cells)."


def _case(section, case) -> str:
    crops = {c.id: c for c in case.evaluation.crops}
    strips = "".join(rep.example_strip(title, crops[i], case.examples[i], target=ZOOM_TARGET)
                     for title, i in rep.pick_examples(case.evaluation) if i in case.examples)
    iterations = case.rl_iterations
    tuned = f" Richardson-Lucy tuned to {iterations} iterations." if iterations else ""
    detail = html.escape(str(case.report_json.relative_to(case.report_json.parents[1])))
    return (f"<h3>{html.escape(case.name)}{' (' + html.escape(case.degradation) + ')' if case.degradation else ''}</h3>"
            f'<p class="lead">{_sentence(case)}</p>{strips}{rep.results_table(case.evaluation)}'
            f'<p class="note">Mean &plusmn; standard deviation over cells.{tuned} Every crop\'s numbers: '
            f"<code>{detail}</code>.</p>")


def render(result) -> str:
    answers: List[str] = []
    for section in result.sections:
        for case in section.cases:
            h = case.headline
            verdict = "beats" if h.beats() else "does not beat"
            ssim = h.gain("richardson-lucy", "ssim")
            gains = f"PSNR {h.gain('richardson-lucy'):+.2f} dB, SSIM {'n/a' if ssim is None else f'{ssim:+.4f}'}"
            answers.append(f"<li><b>{html.escape(section.title)}, {html.escape(case.name)}</b>: "
                           f"{html.escape(h.label)} {verdict} Richardson-Lucy told the same PSF in PSNR and SSIM "
                           f"({gains}). {_sentence(case)}</li>")
    body = []
    for section in result.sections:
        counts = ", ".join(f"{n} {s}" for s, n in section.images.counts.items())
        body.append(f"<h2>{html.escape(section.title)}</h2>"
                    f'<p class="note">{html.escape(section.images.origin)}: {counts} image(s).</p>')
        body.extend(_case(section, case) for case in section.cases)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>MicroGAN demo</title>\n"
            f"{rep.stylesheet()}\n</head>\n<body>\n<h1>MicroGAN demo</h1>\n<p class=\"lead\">{INTRO}</p>\n"
            f"<ul>{''.join(answers)}</ul>\n{''.join(body)}\n"
            f"<p class=\"note\">Took {result.seconds['total']:.0f} s.</p>\n</body>\n</html>\n")


def write_page(result) -> None:
    rep.write_html(result.page, render(result))
