"""Size-bucketed batching: batches of crops of similar size, so a batch > 1 keeps every crop native.

The paper trains on one crop at a time because cells differ in size and it refuses to resize them.
A batch needs one tensor shape, so :class:`BucketBatchSampler` puts crops of similar height and
width in the same batch and :func:`pad_collate` reflect-pads them to the batch's largest size and
returns a mask (1 = real pixel, 0 = padding) that every loss and the critic's pooling honour. With
``batch_size=1`` the sampler is the paper's schedule: a fresh random order of single crops each epoch.

Order is a pure function of ``(seed, epoch)``: no state is carried between epochs, so a run resumes
by position ``(epoch, batch index)`` and every rank of a distributed run computes the same global
batches without talking to the others, then takes its own slice of each.
"""
from __future__ import annotations

import math
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

#: Relative width of a size bucket: crops whose height and width are within this factor share one.
DEFAULT_BUCKET_RATIO = 1.1


def _bin(length: int, ratio: float) -> int:
    return int(math.floor(math.log(max(length, 1)) / math.log(ratio)))


class BucketBatchSampler:
    """Deterministic size-bucketed batches; every crop exactly once per epoch (single process; its
    ``repeats`` times with ``repeats``).

    ``sizes[i]`` is crop ``i``'s ``(height, width)``. Within an epoch crops are shuffled, stably
    sorted by geometric size bin ``(h_bin, w_bin)`` (so each bin keeps a random order; bins are
    ``bucket_ratio`` wide: 1.1 pads 6.4 % of the pixels of BCCD's 2804 training cells in batches
    of 4, against 38 % for random batches - see docs/benchmarks.md), cut into
    global batches of ``batch_size * world_size`` crops and the batch order is shuffled. Rank ``r``
    of ``world_size`` gets the ``r``-th slice of ``batch_size`` crops of every global batch, so a
    distributed run sees exactly the batches of a single process with the global batch size.

    With ``world_size > 1`` the last global batch is completed with crops from the start of the
    epoch's order (as ``torch.utils.data.DistributedSampler`` does), so every rank has the same
    number of equally sized batches; a few crops are then seen twice in that epoch.

    ``repeats[i]`` (default 1) visits crop ``i`` that many times per epoch: the sampler orders
    *slots* ``(crop, visit)`` and :meth:`slot` names a slot's crop and visit number, which the
    stream passes on so that each visit draws its own degradation. Without repeats a slot is its
    crop and the order is what it always was.
    """

    def __init__(
        self,
        sizes: Sequence[Tuple[int, int]],
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        bucket_ratio: float = DEFAULT_BUCKET_RATIO,
        repeats: Optional[Sequence[int]] = None,
    ) -> None:
        if not sizes:
            raise ValueError("BucketBatchSampler needs at least one crop")
        if repeats is not None and (len(repeats) != len(sizes) or min(repeats) < 1):
            raise ValueError(f"repeats must give every one of the {len(sizes)} crops a count >= 1")
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"bad batch_size={batch_size}, rank={rank}, world_size={world_size}")
        if bucket_ratio <= 1.0:
            raise ValueError(f"bucket_ratio must be > 1, got {bucket_ratio}")
        self.sizes = [(int(h), int(w)) for h, w in sizes]
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        # snake order over the (h_bin, w_bin) grid: w ascends in even height bins and descends in
        # odd ones, so a batch that spans two height bins still joins crops of similar width
        bins = [(_bin(h, bucket_ratio), _bin(w, bucket_ratio)) for h, w in self.sizes]
        keys = [(hb, wb if hb % 2 == 0 else -wb) for hb, wb in bins]
        self._slots: List[Tuple[int, int]] = [(i, v) for i in range(len(sizes)) for v in range(repeats[i] if repeats else 1)]
        self._keys = [keys[i] for i, _ in self._slots]

    def slot(self, index: int) -> Tuple[int, int]:
        """``(crop index, visit number)`` of slot ``index`` of :meth:`batches`."""
        return self._slots[index]

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return math.ceil(len(self._slots) / self.global_batch_size)

    def global_batches(self, epoch: int) -> List[List[int]]:
        """The epoch's global batches of slot indices (every rank computes the same list)."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self._slots), generator=gen).tolist()
        order.sort(key=lambda i: self._keys[i])  # stable: random order kept inside a bucket
        gbs = self.global_batch_size
        if self.world_size > 1 and len(order) % gbs:
            order += order[: gbs - len(order) % gbs]
        batches = [order[i : i + gbs] for i in range(0, len(order), gbs)]
        shuffle = torch.randperm(len(batches), generator=gen).tolist()
        return [batches[j] for j in shuffle]

    def batches(self, epoch: int) -> List[List[int]]:
        """This rank's batches of slot indices for ``epoch`` (see :meth:`slot`)."""
        lo, hi = self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        return [b[lo:hi] for b in self.global_batches(epoch)]


def pad_collate(samples: Sequence[Dict[str, object]]) -> Dict[str, object]:
    """Stack dataset samples, reflect-padding each to the batch's largest size (bottom/right).

    Returns ``lr``, ``hr`` (N, C, H, W) (and ``input`` where samples hold one), ``mask`` (N, 1, H, W) float with 1 on real pixels, and
    ``id`` (list); ``mask`` is None when no crop needed padding, so same-size batches pay nothing.
    Reflection rather than zeros keeps padded borders image-like, so the
    convolutions next to a crop's edge see plausible context; the mask then drops those pixels
    from every loss. A crop shorter than half the pad falls back to replicate padding (reflect
    cannot pad by more than the side length minus one).
    """
    height = max(int(s["hr"].shape[-2]) for s in samples)  # type: ignore[union-attr]
    width = max(int(s["hr"].shape[-1]) for s in samples)  # type: ignore[union-attr]
    keys = ["lr", "hr"] + (["input"] if samples[0].get("input") is not None else [])
    stacks: Dict[str, List[torch.Tensor]] = {key: [] for key in keys}
    masks = []
    padded = False
    for s in samples:
        hr = s["hr"]
        h, w = int(hr.shape[-2]), int(hr.shape[-1])  # type: ignore[union-attr]
        pad = (0, width - w, 0, height - h)
        mask = torch.zeros(1, height, width)
        mask[:, :h, :w] = 1.0
        mode = "reflect" if pad[1] < w and pad[3] < h else "replicate"
        for key in keys:
            t = s[key]
            stacks[key].append(F.pad(t[None], pad, mode=mode)[0] if pad[1] or pad[3] else t)  # type: ignore[index]
        padded = padded or bool(pad[1] or pad[3])
        masks.append(mask)
    batch: Dict[str, object] = {key: torch.stack(values) for key, values in stacks.items()}
    batch["mask"] = torch.stack(masks) if padded else None
    batch["id"] = [s["id"] for s in samples]
    return batch


class BatchStream:
    """An endless stream of collated batches over successive epochs of a sampler.

    Its position ``(epoch, index)`` (index = batches of ``epoch`` already taken) is all a
    checkpoint needs to resume it exactly, because the sampler's order depends only on the epoch.
    The dataset is indexed with keys ``(index, sampler seed, epoch[, visit])``, see
    :class:`~microgan.data.datasets.PairedCropDataset`.
    After the last batch of an epoch the position rolls over to ``(epoch + 1, 0)``, so ``epoch``
    is always the number of completed epochs plus the one in progress.
    """

    def __init__(self, dataset: Dataset, sampler: BucketBatchSampler, epoch: int = 0, index: int = 0, num_workers: int = 0) -> None:
        self.dataset = dataset
        self.sampler = sampler
        self.epoch = epoch
        self.index = index
        self.num_workers = num_workers
        self._it: Optional[Iterator[Dict[str, object]]] = None
        self._count = 0

    def _open(self) -> None:
        # keys (index, stream seed, epoch[, visit]): a dataset that draws random degradations seeds
        # them from the key, so the draws depend on the position in the stream alone (exact resume);
        # the visit number is there only for a crop repeated within an epoch (data.repeat)
        stream, epoch = self.sampler.seed, self.epoch

        def key(slot: int) -> Tuple[int, ...]:
            index, visit = self.sampler.slot(slot)
            return (index, stream, epoch, visit) if visit else (index, stream, epoch)

        batches = [[key(i) for i in batch] for batch in self.sampler.batches(epoch)]
        self._count = len(batches)
        # a private generator: a DataLoader otherwise draws its worker base seed from torch's
        # global RNG, which would make the training RNG depend on when streams are opened
        seed = torch.Generator().manual_seed(self.sampler.seed * 1_000_003 + self.epoch)
        loader = DataLoader(
            self.dataset, batch_sampler=batches[self.index :], collate_fn=pad_collate, num_workers=self.num_workers, generator=seed
        )
        self._it = iter(loader)

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Dict[str, object]:
        if self._it is None:
            self._open()
        batch = next(self._it)  # type: ignore[arg-type]
        self.index += 1
        if self.index >= self._count:
            self.epoch, self.index, self._it = self.epoch + 1, 0, None
        return batch

    def state(self) -> Dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}
