"""Evaluation: models and classical baselines scored on prepared crops (PSNR, SSIM, time), tuned on crops
that are never scored, written as report.json (schema-checked) and a self-contained report.html."""
