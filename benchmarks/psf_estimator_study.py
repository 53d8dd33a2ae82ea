"""A study (issue 29, the blind mode): can a small CNN read the PSF's width from a blurred crop better
than fitting it to microgan-blind's restoration (what `enhance` without `--psf` does for microgan-psf)?

    python benchmarks/psf_estimator_study.py train --data PREP_BCCD PREP_CHULA PREP_NATURAL --out est.pt [--steps 5000]
    python benchmarks/psf_estimator_study.py eval --model est.pt --eval bccd=PREP_BCCD skimage=PREP_SKIMAGE histo=PREP_HISTO [--limit 20]

Training: crops of 24-96 px from the train splits of the training domains (up to 1,500 per domain),
blurred with the kernel mix microgan-psf trains on (Gaussian sigma 0.5-4.5 with elongation, defocus
disk, Airy, none) and its noise, 8-bit rounded; each crop standardized (mean, spread), a 9-conv network
with mean and max pooling predicts the kernel family and the log of its RMS width; batch 16, Adam.
Judged on the test crops of each `--eval` domain (held-out ones included) for four grid cells: the
median width read and the share within 15 % of the truth, beside the fit's. A study, not a feature.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from microgan.core.psf import airy_kernel, disk_kernel, gaussian_kernel, second_moment_sigma
from microgan.data.io import read_image

FAMILIES = ("gauss", "disk", "airy", "none")


def draw_kernel(rng):
    u = rng.random()
    if u < 0.55:
        s = rng.uniform(0.5, 4.5)
        a = rng.uniform(1.0, 2.0)
        ang = rng.uniform(0, 180)
        return 0, s, gaussian_kernel(s, a, ang)
    if u < 0.75:
        r = rng.uniform(1.0, 6.0)
        return 1, r, disk_kernel(r)
    if u < 0.92:
        r = rng.uniform(1.5, 6.0)
        return 2, r, airy_kernel(r)
    return 3, 0.3, None


def degrade(hr, kernel, rng):
    lr = hr if kernel is None else cv2.filter2D(hr, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.2:
        peak = rng.uniform(300, 30000)
        lr = rng.poisson(np.clip(lr, 0, 1) * peak) / peak
    if rng.random() < 0.7:
        lr = lr + rng.normal(0, rng.uniform(0, 0.05), lr.shape)
    return np.clip(np.round(lr * 255) / 255, 0, 1).astype(np.float32)


class Estimator(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
        for _ in range(4):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(2 * width, len(FAMILIES) + 1)

    def forward(self, x):
        # blur is contrast-free: each crop standardized (its mean and spread) before the network
        mean = x.mean((1, 2, 3), keepdim=True)
        std = x.std((1, 2, 3), keepdim=True).clamp_min(1e-3)
        f = self.body((x - mean) / std)
        pooled = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
        return self.head(pooled)


def load_pool(folders, limit_per=1500, seed=0):
    rng = np.random.default_rng(seed)
    pool = []
    for folder in folders:
        files = sorted(folder.glob("*.png"))
        for f in rng.choice(files, size=min(limit_per, len(files)), replace=False):
            a = read_image(f).array
            if a.ndim == 2:
                a = np.repeat(a[..., None], 3, 2)
            if min(a.shape[:2]) >= 24:
                pool.append(a.astype(np.float32) / 255)
    return pool


def train(args):
    torch.set_num_threads(2)
    rng = np.random.default_rng(1)
    pool = load_pool([Path(d) / "train" / "hr" for d in args.data])
    print("pool", len(pool))
    net = Estimator()
    opt = torch.optim.Adam(net.parameters(), 5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps, 1e-5)
    t0 = time.time()
    for step in range(args.steps):
        side = int(rng.integers(24, 97))
        xs, fam, wid = [], [], []
        while len(xs) < 16:
            hr = pool[int(rng.integers(len(pool)))]
            if min(hr.shape[:2]) < side:
                continue
            r = int(rng.integers(hr.shape[0] - side + 1)); c = int(rng.integers(hr.shape[1] - side + 1))
            f, w, k = draw_kernel(rng)
            lr = degrade(hr, k, rng)[r:r + side, c:c + side]  # blurred with real context, then cropped
            xs.append(lr.transpose(2, 0, 1)); fam.append(f); wid.append(math.log(second_moment_sigma(k) if k is not None else 0.3))
        x = torch.from_numpy(np.stack(xs))
        out = net(x)
        loss = nn.functional.cross_entropy(out[:, :4], torch.tensor(fam)) + nn.functional.smooth_l1_loss(out[:, 4], torch.tensor(wid, dtype=torch.float32), beta=0.1) * 4
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        if step % 200 == 0:
            print(step, f"{loss.item():.3f}", f"{time.time() - t0:.0f}s", flush=True)
    torch.save(net.state_dict(), args.out)


def evaluate(args):
    import warnings
    warnings.simplefilter("ignore")
    import microgan
    from microgan.data.degrade.presets import parse_degradation_text
    net = Estimator(); net.load_state_dict(torch.load(args.model)); net.eval()
    fitter = microgan.load("microgan-psf", device="cpu")  # no PSF: fitted to microgan-blind's output
    cells = ["gauss:1.5", "gauss:3.5", "gauss:3.5+noise:0.03", "defocus:4"]
    for domain, folder in (item.split("=", 1) for item in args.eval):
        files = sorted((Path(folder) / "test" / "hr").glob("*.png"))
        files = [files[i] for i in np.linspace(0, len(files) - 1, min(args.limit, len(files))).astype(int)]
        for cell in cells:
            deg = parse_degradation_text(cell)
            est, fit, truth = [], [], None
            for i, f in enumerate(files):
                hr = read_image(f).array
                hr = np.repeat(hr[..., None], 3, 2) if hr.ndim == 2 else hr
                lr, k = deg.apply(hr.astype(np.float32) / 255, np.random.default_rng(i))
                truth = second_moment_sigma(k)
                lr = np.clip(np.round(lr * 255), 0, 255).astype(np.uint8)
                with torch.no_grad():
                    o = net(torch.from_numpy(lr.astype(np.float32).transpose(2, 0, 1)[None] / 255))[0]
                est.append((FAMILIES[int(o[:4].argmax())], math.exp(float(o[4]))))
                fitter.enhance(lr)
                fit.append((fitter.fits[0].kind, second_moment_sigma(fitter.fits[0].kernel)))
            we = np.array([w for _, w in est]); wf = np.array([w for _, w in fit])
            fam_e = max(set(f for f, _ in est), key=[f for f, _ in est].count)
            print(f"{domain:8s} {cell:22s} true RMS {truth:.2f} | learnt median {np.median(we):.2f} (IQR {np.percentile(we,25):.2f}-{np.percentile(we,75):.2f}, |err|<15%: {np.mean(np.abs(we/truth-1)<0.15):.0%}, family {fam_e}) | fit median {np.median(wf):.2f} (|err|<15%: {np.mean(np.abs(wf/truth-1)<0.15):.0%})", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("--data", nargs="+", default=[], help="train: prepared folders of the training domains")
    p.add_argument("--eval", nargs="+", default=[], metavar="NAME=PREPARED", help="eval: domains judged on")
    p.add_argument("--out", default="est.pt")
    p.add_argument("--model", default="est.pt")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--limit", type=int, default=40)
    a = p.parse_args()
    train(a) if a.mode == "train" else evaluate(a)
