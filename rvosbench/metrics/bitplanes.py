"""Binary masks as bit planes: 64 pixels of a row per ``uint64`` word, and the few morphological
operations the DAVIS boundary measure needs, done on words instead of bytes.

A stack of planes is a C-contiguous ``uint64`` array ``(N, rows, words + guard)``: plane ``n``, row
``y``, column ``c`` is bit ``c % 64`` of word ``c // 64`` (``np.packbits(..., bitorder='little')``
order), and every row ends with ``guard`` words that hold no foreground. One word operation touches 64
pixels, so a plane costs an eighth of the memory traffic of a ``uint8`` mask, and one numpy call
covers a whole stack of frames, so its fixed cost is paid once per stack rather than once per frame.

Rows move with slices of the row axis (nothing crosses between planes). Columns move with shifts of
the whole stack seen as one flat run of words, each word taking the carry of its neighbour: numpy is
only fast on long contiguous runs, and a row is a handful of words. The guard words keep rows apart:
what a dilation of radius ``r`` pushes past a row's right end stays in the low ``r`` bits of its guard,
what it pushes past the next row's left end in the high ``r`` bits, and these never meet while
``2r ≤ 64·guard`` (:func:`guard_words`). What lands in the guard is exactly what an unbounded plane
would hold there, so shifting it back is exact too.

Why these operations: ``seg2bmap`` (the toolkit's boundary map) compares each pixel with its east,
south and south-east neighbours, which is a one-column shift and a one-row slice; the tolerance
dilation by a disk is a union of rectangles, i.e. a staircase of row and column dilations.

Every intermediate stack lives in a :class:`Workspace` and is overwritten in place: a fresh array of a
few hundred kB for each of the hundred-odd operations per stack would be new memory that the kernel
must map page by page, which costs more than the operations themselves (measured: the boundary map of
a full-frame stack took 10× longer with fresh temporaries).
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from functools import lru_cache

import numpy as np

WORD_BITS = 64
_ONE = np.uint64(1)

Grow = Callable[[np.ndarray, int, np.ndarray, np.ndarray], None]


class Workspace:
    """Named ``uint64`` buffers reused from one stack to the next (grown when a stack is larger)."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A C-contiguous ``shape`` view of buffer ``name``; its content is whatever was there."""
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[name] = np.empty(max(size, 2 * (0 if buffer is None else buffer.size)), np.uint64)
        return buffer[:size].reshape(shape)


_local = threading.local()


def workspace() -> Workspace:
    """This thread's workspace (buffers are not shared between threads)."""
    if not hasattr(_local, "workspace"):
        _local.workspace = Workspace()
    return _local.workspace


def guard_words(radius: int, top_bit: int) -> int:
    """Zero words to append to each row so that a dilation of ``radius`` never carries between rows.

    None when the row's last word keeps ``2·radius`` free bits above ``top_bit`` (the highest column
    with foreground, counted in that word): then that space holds both spills, as a guard would.
    """
    if top_bit < WORD_BITS - 2 * radius:
        return 0
    return max(1, -(-2 * radius // WORD_BITS))


def pack_rows(masks: np.ndarray) -> np.ndarray:
    """``(N, rows, cols)`` 0/1 ``uint8`` masks → ``(N, rows, ⌈cols/8⌉)`` bytes in plane bit order."""
    return np.packbits(masks, axis=-1, bitorder="little")


def planes_from_bytes(parts: tuple[np.ndarray, ...], first: int, stop: int, guard: int, ws: Workspace) -> np.ndarray:
    """Bytes ``first:stop`` of each row of packed parts as words, then ``guard`` zero words: one plane
    stack with the planes of each part in turn (buffer ``'planes'``). Column 0 of a plane is the first
    pixel of byte ``first``."""
    count = sum(len(part) for part in parts)
    planes = ws.get("planes", (count, *parts[0].shape[1:-1], -(-(stop - first) // 8) + guard))
    as_bytes = planes.view(np.uint8)
    start = 0
    for part in parts:
        as_bytes[start:start + len(part), ..., :stop - first] = part[..., first:stop]
        start += len(part)
    as_bytes[..., stop - first:] = 0
    return planes


def popcounts(planes: np.ndarray) -> np.ndarray:
    """Set pixels per plane of an ``(N, rows, words)`` array, as int64 ``(N,)``."""
    return np.bitwise_count(planes).sum(axis=(1, 2), dtype=np.int64)


def boundary_map(planes: np.ndarray, replicate_col: int | None, guard: int, ws: Workspace) -> np.ndarray:
    """The toolkit's ``seg2bmap`` of every plane, in buffer ``'boundary'``.

    A pixel is a boundary pixel when it differs from its east, south or south-east neighbour, i.e.
    when the 2×2 block it starts is not uniform: (OR of the block) XOR (AND of the block). The last
    row of the plane only looks east and ``replicate_col`` only south (the toolkit's special cases,
    which are exactly "replicate the last row and column"); the caller passes planes whose last row
    is the image's last row or a row that is empty in every plane, so both readings agree there.
    The last word of a row takes the next row's first column as its east neighbour; that lands in the
    guard words, or without guard in the top bit, which :func:`guard_words` keeps free; it is cleared.
    """
    flat = planes.reshape(-1)
    east = ws.get("east", planes.shape)
    east_flat = east.reshape(-1)
    np.right_shift(flat, _ONE, out=east_flat)
    carry = ws.get("tmp", planes.shape).reshape(-1)
    np.left_shift(flat[1:], np.uint64(WORD_BITS - 1), out=carry[:-1])
    east_flat[:-1] |= carry[:-1]
    if replicate_col is not None:  # the image's last column is its own east neighbour
        word, bit = divmod(replicate_col, WORD_BITS)
        east[..., word] |= planes[..., word] & (_ONE << np.uint64(bit))
    pair_or, pair_and = ws.get("pair_or", planes.shape), ws.get("pair_and", planes.shape)
    np.bitwise_or(planes, east, out=pair_or)
    np.bitwise_and(planes, east, out=pair_and)
    out = ws.get("boundary", planes.shape)
    np.bitwise_or(pair_or[:, :-1], pair_or[:, 1:], out=out[:, :-1])
    np.bitwise_and(pair_and[:, :-1], pair_and[:, 1:], out=east[:, :-1])
    out[:, :-1] ^= east[:, :-1]
    np.bitwise_xor(pair_or[:, -1], pair_and[:, -1], out=out[:, -1])
    if guard:
        out[..., -guard:] = 0
    else:
        out[..., -1] &= ~(_ONE << np.uint64(WORD_BITS - 1))
    return out


def _grow_columns(src: np.ndarray, step: int, dst: np.ndarray, tmp: np.ndarray) -> None:
    """``dst`` = ``src`` OR ``src`` shifted ``step`` columns left and right (``1 ≤ step < 64``)."""
    shift, carry = np.uint64(step), np.uint64(WORD_BITS - step)
    flat, out, scratch = src.reshape(-1), dst.reshape(-1), tmp.reshape(-1)
    np.left_shift(flat, shift, out=out)
    np.right_shift(flat, shift, out=scratch)
    out |= scratch
    np.right_shift(flat[:-1], carry, out=scratch[1:])
    out[1:] |= scratch[1:]
    np.left_shift(flat[1:], carry, out=scratch[:-1])
    out[:-1] |= scratch[:-1]
    out |= flat


def _grow_rows(src: np.ndarray, step: int, dst: np.ndarray, tmp: np.ndarray) -> None:
    """``dst`` = ``src`` OR ``src`` shifted ``step`` rows up and down (within each plane)."""
    np.bitwise_or(src[:, step:], src[:, :-step], out=dst[:, step:])
    dst[:, :step] = src[:, :step]
    dst[:, :-step] |= src[:, step:]


def _dilate_1d(planes: np.ndarray, start: int, stop: int, grow: Grow, pair: tuple[np.ndarray, np.ndarray],
               tmp: np.ndarray) -> np.ndarray:
    """Grow a dilation of half-width ``start`` to ``stop`` by doubling steps, ping-ponging in ``pair``.

    A plane dilated by ``[-a, a]`` and OR-ed with its copies shifted by ``±s`` is dilated by
    ``[-(a+s), a+s]`` as long as the three intervals touch (``s ≤ 2a + 1``), so half-width 8 takes
    steps 1, 2, 4, 1 rather than eight. ``planes`` itself is never written.
    """
    current = planes
    while start < stop:
        step = min(stop - start, 2 * start + 1, WORD_BITS - 1)
        target = pair[1] if current is pair[0] else pair[0]
        grow(current, step, target, tmp)
        current, start = target, start + step
    return current


@lru_cache(maxsize=64)
def disk_staircase(radius: int) -> tuple[tuple[int, int], ...]:
    """The disk ``x² + y² ≤ r²`` as rectangles ``(half_height, half_width)``, widest first.

    Row ``dy`` of the disk spans ``±isqrt(r² − dy²)``, which only shrinks as ``|dy|`` grows; each
    distinct half-width with the largest ``dy`` that has it is one rectangle, and their union is the
    disk (skimage's ``disk``, which the toolkit dilates with).
    """
    tallest: dict[int, int] = {}
    for dy in range(radius + 1):
        tallest[math.isqrt(radius * radius - dy * dy)] = dy
    return tuple((dy, width) for width, dy in tallest.items())


def dilate_disk(planes: np.ndarray, radius: int, ws: Workspace) -> np.ndarray:
    """Dilation of every plane by the disk of ``radius`` ≥ 1 (pixels outside the planes are empty).

    The disk is the union of rectangles ``R_k`` (half-height ``d_k`` increasing, half-width ``w_k``
    decreasing, :func:`disk_staircase`). Row dilations compose additively, so
    ``∪_k rows(d_k) ∘ cols(w_k)`` is evaluated from the narrowest rectangle outwards as
    ``Y ← rows(d_{k+1} − d_k)(Y) ∪ cols(w_k)(X)``: each column half-width is reached once from the
    previous one and rows grow only by the differences, about seventy word operations for r = 8.
    The result is a workspace buffer, valid until the next call.
    """
    steps = disk_staircase(radius)
    shape = planes.shape
    tmp = ws.get("tmp", shape)
    column_pair = (ws.get("columns_a", shape), ws.get("columns_b", shape))
    row_pair = (ws.get("rows_a", shape), ws.get("rows_b", shape))
    column_width = steps[-1][1]
    columns = _dilate_1d(planes, 0, column_width, _grow_columns, column_pair, tmp)
    result = columns
    for k in range(len(steps) - 2, -1, -1):  # from the narrowest rectangle to the widest
        result = _dilate_1d(result, 0, steps[k + 1][0] - steps[k][0], _grow_rows, row_pair, tmp)
        columns = _dilate_1d(columns, column_width, steps[k][1], _grow_columns, column_pair, tmp)
        column_width = steps[k][1]
        result |= columns
    return _dilate_1d(result, 0, steps[0][0], _grow_rows, row_pair, tmp)
