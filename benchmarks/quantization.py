"""Does int8 (ONNX Runtime static quantization) keep the image? Speed and accuracy against fp32.

    python benchmarks/quantization.py [--model microgan-blind] [--threads 2] [--repeats 5]

The model's ONNX graph (the one ``enhance --backend onnxruntime`` runs) is quantized statically in
QDQ form with per-channel int8 weights, calibrated on 128x128 crops of the four BCCD fields the
package ships for tuning (blurred the paper's way), in several variants: everything ONNX Runtime
quantizes; convolutions only; convolutions only with the first and last kept in float; the same with
percentile calibration; and with symmetric int8 activations. Each variant and the fp32 graph restore
the blurred napari sample field (640x480, a field no model trained on), interleaved ``--repeats``
times after a warm-up; printed: the median speed-up over fp32 in the same run, the largest and mean
difference from fp32 in 8-bit grey levels, and PSNR against the sharp field. The acceptance rule of
issue 35 (at most 0.05 dB below fp32 and no pixel more than 2 grey levels off) is applied and said.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TOLERANCE_DB = 0.05
TOLERANCE_LEVELS = 2.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="microgan-blind")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quant_pre_process, quantize_static)

    from microgan.core.checkpoint import load_generator
    from microgan.core.contract import from_network, to_network
    from microgan.data.degrade import paper_degradation
    from microgan.data.io import read_image
    from microgan.data.samples import bccd_field, blurred_bccd_field, sample_fields
    from microgan.infer.backends import onnx_graph

    net, meta = load_generator(args.model, "cpu")
    graph = onnx_graph(net, meta)
    rng = np.random.default_rng(0)
    crops = []
    for f in sample_fields("tune"):
        field = paper_degradation()(read_image(f.path).array).astype(np.float32) / 255
        for _ in range(8):
            y, x = rng.integers(0, field.shape[0] - 128), rng.integers(0, field.shape[1] - 128)
            crops.append(to_network(field[y : y + 128, x : x + 128].transpose(2, 0, 1)[None]).astype(np.float32))

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": c} for c in crops])

        def get_next(self):
            return next(self.items, None)

    work = Path(tempfile.mkdtemp(prefix="microgan-quant-"))
    os.chdir(work)  # ONNX Runtime's quantization tools leave temporaries in the working folder
    pre = work / "pre.onnx"
    quant_pre_process(str(graph), str(pre), skip_symbolic_shape=True)
    convs = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type in ("Conv", "ConvTranspose")]
    base = dict(quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    ends = [convs[0], convs[-1]]
    variants = {
        "all ops": {},
        "convolutions": {"op_types_to_quantize": ["Conv", "ConvTranspose"]},
        "convolutions, first and last in float": {"op_types_to_quantize": ["Conv", "ConvTranspose"], "nodes_to_exclude": ends},
        "the same, percentile calibration": {"op_types_to_quantize": ["Conv", "ConvTranspose"], "nodes_to_exclude": ends,
                                             "calibrate_method": CalibrationMethod.Percentile},
        "the same, symmetric int8 activations": {"op_types_to_quantize": ["Conv", "ConvTranspose"], "nodes_to_exclude": ends,
                                                 "activation_type": QuantType.QInt8,
                                                 "extra_options": {"ActivationSymmetric": True}},
    }
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.log_severity_level = 3
    sessions = {"fp32": ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])}
    for i, (name, extra) in enumerate(variants.items()):
        path = work / f"q{i}.onnx"
        quantize_static(str(pre), str(path), Crops(), **{**base, **extra})
        sessions[name] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    x = to_network(blurred_bccd_field().astype(np.float32) / 255).transpose(2, 0, 1)[None].astype(np.float32)
    truth = bccd_field().astype(np.float64)
    outputs, times = {}, {name: [] for name in sessions}
    for name, session in sessions.items():
        outputs[name] = session.run(None, {"input": x})[0]  # warm-up, and the output
    for _ in range(args.repeats):
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {"input": x})
            times[name].append(time.perf_counter() - start)

    def psnr(y: np.ndarray) -> float:
        image = np.rint(np.clip(from_network(y[0].transpose(1, 2, 0)), 0, 1) * 255)
        return float(10 * np.log10(255**2 / np.mean((image - truth) ** 2)))

    fp32 = statistics.median(times["fp32"])
    print(f"{args.model}, 640x480 field, {args.threads} threads, median of {args.repeats}; fp32 {fp32:.3f} s, "
          f"PSNR {psnr(outputs['fp32']):.2f} dB\n")
    print("| int8 variant | speed vs fp32 | max diff (grey levels) | mean diff | PSNR dB | kept? |")
    print("|---|---|---|---|---|---|")
    for name in variants:
        diff = np.abs(np.clip(outputs[name], -1, 1) - np.clip(outputs["fp32"], -1, 1)) * 255 / 2
        loss = psnr(outputs["fp32"]) - psnr(outputs[name])
        kept = loss <= TOLERANCE_DB and diff.max() <= TOLERANCE_LEVELS
        print(f"| {name} | {fp32 / statistics.median(times[name]):.2f}x | {diff.max():.1f} | {diff.mean():.3f} | "
              f"{psnr(outputs[name]):.2f} ({-loss:+.2f}) | {'yes' if kept else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
