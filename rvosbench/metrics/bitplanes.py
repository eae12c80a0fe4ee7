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
dilation by a disk is, row offset by row offset, a column dilation moved by that many rows.

Every intermediate stack lives in a :class:`Workspace` and is overwritten in place: a fresh array of a
few hundred kB for each of the hundred-odd operations per stack would be new memory that the kernel
must map page by page, which costs more than the operations themselves (measured: the boundary map of
a full-frame stack took 10× longer with fresh temporaries).
"""
from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

WORD_BITS = 64
_ONE = np.uint64(1)


class Workspace:
    """Named ``uint64`` buffers reused from one stack to the next (grown when a stack is larger)."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type = np.uint64) -> np.ndarray:
        """A C-contiguous ``shape`` view of buffer ``name``; its content is whatever was there."""
        size = -(-math.prod(shape) * np.dtype(dtype).itemsize // 8)  # in words
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[name] = np.empty(max(size, 2 * (0 if buffer is None else buffer.size)), np.uint64)
        return buffer[:size].view(np.uint8)[:math.prod(shape) * np.dtype(dtype).itemsize].view(dtype).reshape(shape)


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


def planes_from_crops(parts: tuple[np.ndarray, ...], frames: Sequence[int], tops: Sequence[int],
                      lefts: Sequence[int], rows: int, nbytes: int, guard: int, guard_rows: int,
                      ws: Workspace) -> np.ndarray:
    """One plane stack (buffer ``'planes'``) of ``rows`` × ``nbytes`` crops of packed ``(T, H, bytes)`` parts:
    for each part in turn, frame ``frames[i]`` cropped at row ``tops[i]`` and byte ``lefts[i]``, then
    zero bytes up to a whole word, ``guard`` zero words, and ``guard_rows`` zero rows. Column 0 of a
    plane is bit 0 of its crop's first byte, so frames keep their own crops (a moving object is not
    boxed with its whole path)."""
    words = -(-nbytes // 8)
    planes = ws.get("planes", (len(parts) * len(frames), rows + guard_rows, words + guard))
    planes.fill(0)  # one memset beats zeroing the tail of every row
    as_bytes = planes.view(np.uint8)
    count = len(frames)
    if len(set(tops)) == len(set(lefts)) == 1 and frames[-1] - frames[0] == count - 1:  # one crop: one copy
        top, left, first = tops[0], lefts[0], frames[0]
        for k, part in enumerate(parts):
            as_bytes[k * count:(k + 1) * count, :rows, :nbytes] = part[first:first + count, top:top + rows,
                                                                       left:left + nbytes]
    else:
        for k, part in enumerate(parts):
            for plane, (frame, top, left) in enumerate(zip(frames, tops, lefts), start=k * count):
                as_bytes[plane, :rows, :nbytes] = part[frame, top:top + rows, left:left + nbytes]
    return planes


def popcounts(planes: np.ndarray, ws: Workspace) -> np.ndarray:
    """Set pixels per plane of an ``(N, rows, words)`` array, as int32 ``(N,)`` (exact below 2³¹ pixels)."""
    counts = np.bitwise_count(planes, out=ws.get("counts", planes.shape, np.uint8))
    return cv2.reduce(counts.reshape(len(planes), -1), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()


def _selection(planes: list[int]) -> slice | list[int] | None:
    """Plane indices as a slice when they are a run (numpy then works in place, without a copy)."""
    if not planes:
        return None
    return slice(planes[0], planes[-1] + 1) if planes[-1] - planes[0] == len(planes) - 1 else planes


def boundary_map(planes: np.ndarray, rows: int, last_row: Sequence[bool], last_column: Sequence[int | None],
                 guard: int, ws: Workspace) -> np.ndarray:
    """The toolkit's ``seg2bmap`` of the first ``rows`` rows of every plane, in buffer ``'boundary'``.

    A pixel is a boundary pixel when its 2×2 block (itself, east, south, south-east) is not uniform,
    i.e. when it differs from its east neighbour, or its south neighbour from that one's east
    neighbour, or it differs from its south neighbour: ``h(y) | h(y+1) | (p(y) ^ p(y+1))`` with
    ``h = p ^ east``, seven operations on the whole stack as one run of words (numpy is three times
    slower on a slice per plane). The toolkit's border rules are exactly "replicate the last row and
    column": planes whose row ``rows - 1`` is the image's last row (``last_row``) get it copied into
    the zero row below, and plane ``n``'s column ``last_column[n]`` (the image's last column, or None)
    is its own east neighbour. Everywhere else a crop's border rows and columns are empty, where both
    readings agree. The last word of a row takes the next row's first column as its east neighbour;
    that lands in the guard words, or without guard in the top bit, which :func:`guard_words` keeps
    free. Rows from ``rows`` on and guard words are cleared.
    """
    chosen = _selection([n for n, last in enumerate(last_row) if last])
    if chosen is not None:
        planes[chosen, rows] = planes[chosen, rows - 1]
    row_words = planes.shape[2]
    flat = planes.reshape(-1)
    horizontal = ws.get("horizontal", planes.shape)
    east = horizontal.reshape(-1)
    np.right_shift(flat, _ONE, out=east)
    carry = ws.get("tmp", planes.shape).reshape(-1)
    np.left_shift(flat[1:], np.uint64(WORD_BITS - 1), out=carry[:-1])
    east[:-1] |= carry[:-1]
    for column in set(last_column) - {None}:
        chosen = _selection([n for n, c in enumerate(last_column) if c == column])
        word, bit = divmod(column, WORD_BITS)
        horizontal[chosen, :, word] |= planes[chosen, :, word] & (_ONE << np.uint64(bit))
    east ^= flat  # h: differs from its east neighbour
    out = ws.get("boundary", planes.shape)
    flat_out = out.reshape(-1)
    np.bitwise_or(east[:-row_words], east[row_words:], out=flat_out[:-row_words])
    np.bitwise_xor(flat[:-row_words], flat[row_words:], out=carry[:-row_words])
    flat_out[:-row_words] |= carry[:-row_words]
    out[:, rows:] = 0
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


def _dilate_columns(planes: np.ndarray, start: int, stop: int, pair: tuple[np.ndarray, np.ndarray],
                    tmp: np.ndarray) -> np.ndarray:
    """Grow a column dilation of half-width ``start`` to ``stop`` by doubling steps, ping-ponging in ``pair``.

    A plane dilated by ``[-a, a]`` and OR-ed with its copies shifted by ``±s`` is dilated by
    ``[-(a+s), a+s]`` as long as the three intervals touch (``s ≤ 2a + 1``), so half-width 8 takes
    steps 1, 2, 4, 1 rather than eight. ``planes`` itself is never written.
    """
    current = planes
    while start < stop:
        step = min(stop - start, 2 * start + 1, WORD_BITS - 1)
        target = pair[1] if current is pair[0] else pair[0]
        _grow_columns(current, step, target, tmp)
        current, start = target, start + step
    return current


@lru_cache(maxsize=64)
def disk_half_widths(radius: int) -> tuple[int, ...]:
    """Half-width of row ``dy`` (0 … r) of the disk ``x² + y² ≤ r²`` (skimage's ``disk``, which the toolkit
    dilates with): ``isqrt(r² − dy²)``."""
    return tuple(math.isqrt(radius * radius - dy * dy) for dy in range(radius + 1))


def dilate_disk(planes: np.ndarray, radius: int, ws: Workspace) -> np.ndarray:
    """Dilation of every plane by the disk of ``radius`` ≥ 1 (pixels outside the planes are empty);
    every plane must end with ``radius`` empty rows, which receive what moves down past its last row.

    Row ``dy`` of the disk is a run of half-width ``h(dy)`` (:func:`disk_half_widths`), so the dilation
    is the OR over ``dy`` of the planes dilated along columns by ``h(dy)`` and moved ``dy`` rows. The
    column dilations are built once for each distinct half-width, wider from narrower by doubling
    steps, and each is OR-ed, moved, into the result as soon as it exists: one operation per row
    offset, on the stack as one run of words (the empty rows keep planes apart). The widest run, row
    0's ``±r``, is the run of ``±(r − 1)`` plus the planes moved by ``±r`` columns; when ``r`` is a
    whole number of bytes those two moves are byte offsets, two operations instead of a doubling
    step's eight. For r = 8: 60 word operations. The result is buffer ``'dilated'``, valid until the
    next call.
    """
    half_widths = disk_half_widths(radius)
    shape = planes.shape
    tmp = ws.get("tmp", shape)
    pair = (ws.get("columns_a", shape), ws.get("columns_b", shape))
    out = ws.get("dilated", shape)
    out.fill(0)
    flat_out = out.reshape(-1)
    whole_bytes = radius % 8 == 0  # then half_widths[1] == radius - 1 and row 0 takes the byte moves
    columns, width = planes, 0
    for half_width in sorted(set(half_widths[1:] if whole_bytes else half_widths)):
        columns = _dilate_columns(columns, width, half_width, pair, tmp)
        width = half_width
        flat = columns.reshape(-1)
        for dy in (dy for dy, h in enumerate(half_widths) if h == half_width and dy > 0):
            offset = dy * shape[2]
            flat_out[offset:] |= flat[:-offset]
            flat_out[:-offset] |= flat[offset:]
        if half_width == half_widths[1] and whole_bytes or half_width == half_widths[0]:
            flat_out |= flat  # row 0 (its ±r run, completed below when r is whole bytes)
    if whole_bytes:
        offset, source, target = radius // 8, planes.view(np.uint8).reshape(-1), out.view(np.uint8).reshape(-1)
        target[offset:] |= source[:-offset]
        target[:-offset] |= source[offset:]
    return out
