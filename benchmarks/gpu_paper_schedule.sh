#!/usr/bin/env bash
# The paper's full GAN schedule (section 3.2: WGAN-GP critic with global average pooling, trained 4x
# per generator step, perceptual loss, Adam 1e-4, native sizes) on ONE CUDA device, within a wall-clock
# budget, then its evaluation next to the bundled L1 and GAN models and Wiener (docs/results.md).
#
#   bash benchmarks/gpu_paper_schedule.sh PREPARED OUT [MINUTES]
#
# PREPARED is `microgan prepare --source bccd --out PREPARED`; MINUTES (default 8) bounds training so the
# whole script stays under 10 minutes on an H100/H200-class GPU. Departures from the paper, each for speed
# on a GPU: size-bucketed batches of 16 (native sizes kept, padding masked), bf16 autocast, channels_last;
# the perceptual loss uses EfficientNet-Lite0 features at weight 1 (no VGG weights offline; see
# docs/paper-notes.md), and the generator starts from the L1-trained bundled model (init-from), as the
# CPU GAN fine-tuning does, so minutes of GPU time go to the adversarial phase.
set -euo pipefail
DATA=${1:?usage: gpu_paper_schedule.sh PREPARED OUT [MINUTES]}
OUT=${2:?usage: gpu_paper_schedule.sh PREPARED OUT [MINUTES]}
MINUTES=${3:-8}
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this script is for a GPU')"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python -m microgan train --config microgan --data "$DATA" --out "$OUT/run" --device cuda --init-from microgan-bccd \
  --max-minutes "$MINUTES" --overwrite --quiet \
  --set data.batch_size=16 --set data.num_workers=8 --set train.precision=bf16 --set train.channels_last=true \
  --set losses.perceptual.weight=1.0 --set losses.pixel.weight=100.0 --set losses.adversarial.weight=0.1 \
  --set train.critic_warmup_steps=200 --set train.val_every=250 --set train.ckpt_every=250
python -m microgan evaluate --data "$DATA" --split test --device cuda \
  --model paper-gpu="$OUT/run/last.safetensors" --model l1=microgan-bccd --model gan=microgan-bccd-gan \
  --baselines wiener richardson-lucy --json "$OUT/report.json" --html "$OUT/report.html" --overwrite --quiet | tee "$OUT/table.txt"
