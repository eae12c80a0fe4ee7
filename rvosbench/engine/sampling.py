"""A training data stream that is a pure function of (seed, position), so resuming replays it exactly.

A DataLoader with shuffling and worker processes draws its order and its augmentation randomness
from RNG state that is consumed as it goes; after a resume the stream would differ from the
uninterrupted run. Here the order of epoch ``e`` is a permutation seeded by ``(seed, e)``, and every
item is fetched with all RNGs seeded from ``(seed, position)`` (:class:`SeededItems`), whichever
worker or process loads it. Resuming at optimiser step ``s`` starts the stream at position
``s × accumulate × batch_size × world_size``, and the run continues exactly as if never stopped.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def item_seed(seed: int, position: int) -> int:
    """A 63-bit seed for the item at global ``position`` of the stream (SeedSequence mixing)."""
    return int(np.random.SeedSequence([seed, position]).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class SeededItems(Dataset):
    """Wraps a dataset so item ``(index, seed, epoch)`` is loaded with every RNG seeded by ``seed``.

    A dataset with its own generator per (epoch, index), such as the data package's ``TrainClips``,
    gets ``set_epoch(epoch)`` first, so each epoch draws new clips and the draw stays reproducible.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._set_epoch = getattr(dataset, "set_epoch", None)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int, int]) -> Any:
        index, seed, epoch = key
        seed_all(seed)
        if self._set_epoch is not None:
            self._set_epoch(epoch)
        return self.dataset[index]


class StreamSampler(Sampler):
    """Endless batches of ``(index, item_seed, epoch)`` for one rank, starting at batch ``start``.

    Global batch ``b`` covers stream positions ``[b·B·W, (b+1)·B·W)`` (B per-rank batch size, W ranks);
    rank r takes every W-th of them. Position p is element ``p mod n`` of the permutation of epoch
    ``p // n``.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, start: int = 0, rank: int = 0,
                 world_size: int = 1):
        if num_items < 1:
            raise ValueError("the training set is empty")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.start = start
        self.rank = rank
        self.world_size = world_size
        self._epoch = -1
        self._order: np.ndarray | None = None

    def _item(self, position: int) -> tuple[int, int, int]:
        epoch, offset = divmod(position, self.num_items)
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.num_items)
            self._epoch = epoch
        return int(self._order[offset]), item_seed(self.seed, position), epoch  # type: ignore[index]

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        per_global = self.batch_size * self.world_size
        batch = self.start
        while True:
            base = batch * per_global
            yield [self._item(base + i * self.world_size + self.rank) for i in range(self.batch_size)]
            batch += 1
