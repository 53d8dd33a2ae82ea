"""Size-bucketed batching: every crop once per epoch, similar sizes together, deterministic order,
distributed slices of the same global batches, reflect padding with a mask."""
from __future__ import annotations

import itertools
import random

import pytest
import torch

from microgan.data.samplers import BatchStream, BucketBatchSampler, pad_collate

# cell-like crop sizes (around 100 px, as BCCD's blood cells), 101 crops: batches do not divide it
_rng = random.Random(0)
SIZES = [(max(4, int(_rng.gauss(100, 25))), max(4, int(_rng.gauss(100, 25)))) for _ in range(101)]


def _waste(sizes, batches) -> float:
    """Fraction of padded pixels over all batches."""
    total = real = 0
    for b in batches:
        h, w = max(sizes[i][0] for i in b), max(sizes[i][1] for i in b)
        total += h * w * len(b)
        real += sum(sizes[i][0] * sizes[i][1] for i in b)
    return 1 - real / total


@pytest.mark.parametrize("batch_size", [1, 4, 7])
def test_every_crop_exactly_once_per_epoch(batch_size: int) -> None:
    sampler = BucketBatchSampler(SIZES, batch_size, seed=3)
    for epoch in range(3):
        batches = sampler.batches(epoch)
        assert len(batches) == len(sampler) == -(-len(SIZES) // batch_size)
        assert sorted(itertools.chain(*batches)) == list(range(len(SIZES)))
        assert all(len(b) == batch_size for b in batches[:-1] if batch_size == 1)


def test_order_depends_only_on_seed_and_epoch() -> None:
    a, b = BucketBatchSampler(SIZES, 4, seed=1), BucketBatchSampler(SIZES, 4, seed=1)
    assert a.batches(5) == b.batches(5)
    assert a.batches(0) != a.batches(1)
    assert a.batches(0) != BucketBatchSampler(SIZES, 4, seed=2).batches(0)


def test_buckets_pad_far_less_than_random_batches() -> None:
    rng = random.Random(1)
    sizes = [(max(4, int(rng.gauss(100, 25))), max(4, int(rng.gauss(100, 25)))) for _ in range(2000)]
    bucketed = BucketBatchSampler(sizes, 4, seed=0).batches(0)
    order = torch.randperm(len(sizes), generator=torch.Generator().manual_seed(0)).tolist()
    shuffled = [order[i : i + 4] for i in range(0, len(order), 4)]
    assert _waste(sizes, bucketed) < 0.25 * _waste(sizes, shuffled)


def test_distributed_ranks_share_the_single_process_global_batches() -> None:
    world, per_rank = 3, 2
    ranks = [BucketBatchSampler(SIZES, per_rank, seed=4, rank=r, world_size=world) for r in range(world)]
    single = BucketBatchSampler(SIZES, per_rank * world, seed=4)
    lengths = {len(r.batches(2)) for r in ranks}
    assert lengths == {len(ranks[0])}, "every rank must run the same number of steps"
    for i, global_batch in enumerate(ranks[0].global_batches(2)):
        parts = [r.batches(2)[i] for r in ranks]
        assert all(len(p) == per_rank for p in parts)
        assert sum(parts, []) == global_batch
    seen = sum((b for r in ranks for b in r.batches(2)), [])
    assert set(seen) == set(range(len(SIZES)))  # all crops; the short last batch wraps around
    assert len(seen) - len(SIZES) < world * per_rank
    # the same batches as one process with the global batch size; its short batch is completed
    for dist_batch, one_batch in zip(ranks[0].global_batches(2), single.batches(2), strict=True):
        assert dist_batch[: len(one_batch)] == one_batch


def test_pad_collate_reflects_and_masks() -> None:
    a = {"lr": torch.arange(12.0).view(1, 3, 4), "hr": torch.arange(12.0).view(1, 3, 4) + 100, "id": "a"}
    b = {"lr": torch.zeros(1, 5, 2), "hr": torch.ones(1, 5, 2), "id": "b"}
    batch = pad_collate([a, b])
    assert batch["lr"].shape == (2, 1, 5, 4) and batch["id"] == ["a", "b"]
    mask = batch["mask"]
    assert mask.shape == (2, 1, 5, 4)
    assert mask[0, 0, :3, :].all() and not mask[0, 0, 3:, :].any()
    assert mask[1, 0, :, :2].all() and not mask[1, 0, :, 2:].any()
    assert torch.equal(batch["hr"][0, 0, :3, :], a["hr"][0])
    # reflect padding: row 3 mirrors row 1, row 4 mirrors row 0
    assert torch.equal(batch["hr"][0, 0, 3], a["hr"][0, 1]) and torch.equal(batch["hr"][0, 0, 4], a["hr"][0, 0])


def test_pad_collate_same_sizes_has_no_mask() -> None:
    s = {"lr": torch.zeros(3, 4, 4), "hr": torch.zeros(3, 4, 4), "id": "x"}
    assert pad_collate([s, dict(s, id="y")])["mask"] is None


def test_pad_collate_falls_back_to_replicate_for_tiny_crops() -> None:
    tiny = {"lr": torch.ones(1, 1, 1), "hr": torch.ones(1, 1, 1), "id": "t"}
    big = {"lr": torch.zeros(1, 6, 6), "hr": torch.zeros(1, 6, 6), "id": "b"}
    batch = pad_collate([tiny, big])
    assert torch.equal(batch["hr"][0], torch.ones(1, 6, 6))
    assert batch["mask"][0].sum() == 1


class _Sizes(torch.utils.data.Dataset):
    def __init__(self, sizes) -> None:
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, key: tuple) -> dict:
        i, stream, epoch = key  # BatchStream's keys: (index, sampler seed, epoch)
        assert stream == 0 and epoch >= 0
        h, w = self.sizes[i]
        return {"lr": torch.full((1, h, w), float(i)), "hr": torch.full((1, h, w), float(i)), "id": str(i)}


def test_stream_resumes_at_its_position_across_epochs() -> None:
    data = _Sizes(SIZES[:10])
    sampler = BucketBatchSampler(data.sizes, 3, seed=0)
    stream = BatchStream(data, sampler)
    ids = [next(stream)["id"] for _ in range(9)]  # 4 batches per epoch: crosses two epoch ends
    assert stream.state() == {"epoch": 2, "index": 1}
    resumed = BatchStream(data, sampler, **BatchStream(data, sampler).state())
    for _ in range(5):
        next(resumed)
    assert resumed.state() == {"epoch": 1, "index": 1}
    assert [next(resumed)["id"] for _ in range(4)] == ids[5:]


def test_repeats_visit_each_crop_that_often_and_leave_the_default_order_alone() -> None:
    plain = BucketBatchSampler(SIZES, 4, seed=2)
    ones = BucketBatchSampler(SIZES, 4, seed=2, repeats=[1] * len(SIZES))
    assert ones.batches(3) == plain.batches(3)  # runs without data.repeat keep their exact stream
    repeats = [3 if i < 10 else 1 for i in range(len(SIZES))]  # a small first folder, visited 3x
    sampler = BucketBatchSampler(SIZES, 4, seed=2, repeats=repeats)
    assert len(sampler) == -(-(len(SIZES) + 20) // 4)
    for epoch in range(2):
        slots = list(itertools.chain(*sampler.batches(epoch)))
        assert sorted(slots) == list(range(len(SIZES) + 20))  # every slot once
        visits = [sampler.slot(s) for s in slots]
        assert sorted(visits) == sorted((i, v) for i in range(len(SIZES)) for v in range(repeats[i]))
    with pytest.raises(ValueError, match="repeats must give every one"):
        BucketBatchSampler(SIZES, 4, repeats=[1, 2])


def test_a_repeated_crop_gets_its_own_key_per_visit() -> None:
    class Keys(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, key):
            return {"lr": torch.zeros(1, 4, 4), "hr": torch.zeros(1, 4, 4), "id": key}

    sampler = BucketBatchSampler([(4, 4), (4, 4)], 1, seed=5, repeats=[2, 1])
    stream = BatchStream(Keys(), sampler)
    keys = sorted(next(stream)["id"][0] for _ in range(3))
    assert keys == [(0, 5, 0), (0, 5, 0, 1), (1, 5, 0)]  # visit 0 keeps the key a run without repeats uses


def test_the_order_of_existing_runs_is_pinned() -> None:
    """Values from the sampler before data.repeat existed: checkpoints written then resume exactly."""
    assert BucketBatchSampler(SIZES, 4, seed=2).batches(0)[:3] == [[8], [44, 96, 5, 57], [65, 9, 43, 0]]
    assert BucketBatchSampler(SIZES, 2, seed=1, rank=1, world_size=2).batches(3)[:2] == [[23, 72], [13, 92]]
