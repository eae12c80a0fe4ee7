"""DAVIS region similarity J and boundary accuracy F, exact to the davis2017-evaluation toolkit, fast.

Semantics (davisvideochallenge/davis2017-evaluation ``davis2017/metrics.py`` and ``utils.py``; see
``docs/metrics.md`` and shared/reference/rivals.md §2.1):

* **J** = |gt ∧ pred ∧ ¬void| / |(gt ∨ pred) ∧ ¬void|, and 1 when that union is empty.
* **F**: both masks are multiplied by ¬void; their boundary maps follow the ``seg2bmap`` rule (a pixel
  is a boundary pixel when it differs from its east, south or south-east neighbour; the last row only
  looks east, the last column only south, the bottom-right pixel is never one); each map is dilated by
  a disk of radius ``ceil(bound_th · ‖(H, W)‖)`` (or ``bound_th`` pixels when ``bound_th ≥ 1``), the
  disk being ``x² + y² ≤ r²`` (skimage's ``disk``); precision = |pred boundary ∧ dilated gt boundary| /
  |pred boundary|, recall the other way round, F = 2PR/(P+R) with the toolkit's degenerate cases
  (empty/empty → 1, exactly one empty → 0) and F = 0 when P + R = 0.

Why it is fast yet exact (the toolkit takes 3–4 ms per object-frame at 480×854 on one core; see
``rvosbench bench metrics`` and docs/metrics.md for the measured ratios):

* Each mask is read once, packed to bits (64 pixels per word, :mod:`rvosbench.metrics.bitplanes`);
  void pixels are removed and everything else happens on the packed words, an eighth of the bytes.
* Each frame is cropped to the box holding either mask (plus the row above, whose pixels see the mask
  to the south, the row below and a byte on the left); nothing outside it is a boundary pixel or can
  match one, so the work scales with the objects, not the frame. Consecutive frames are scored
  together in a stack of crops of one size (its largest), about 32k words, so one numpy call covers
  a chunk while its dozen intermediate stacks stay in L2 cache.
* ``seg2bmap``'s border rule is exactly "replicate the last row and column"; a crop's last row and
  column are the image's own, then replicated, or empty ones, where both readings agree.
* The disk dilation is, row offset by row offset, a column dilation moved by that many rows: the
  column dilations of the distinct half-widths are built with doubling steps, and each row move is
  one operation on the whole stack seen as one run of words (each plane ends with ``r`` empty rows
  that keep planes apart); 60 word operations for the 8-pixel tolerance.
* Counts are popcounts; the divisions are the same float64 operations in the toolkit's order, so the
  values are bit-identical, not merely close (``tests/metrics`` checks equality with the toolkit's
  algorithm, ``rvosbench bench metrics`` with the toolkit itself).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from rvosbench.metrics.bitplanes import (WORD_BITS, boundary_map, dilate_disk, guard_words, pack_rows,
                                         planes_from_crops, popcounts, workspace)

#: Boundary tolerance of the DAVIS toolkit: a fraction of the image diagonal.
DEFAULT_BOUND_TH = 0.008


def boundary_radius(height: int, width: int, bound_th: float = DEFAULT_BOUND_TH) -> int:
    """Dilation radius in pixels: ``bound_th`` itself when ≥ 1, else ``ceil(bound_th · diagonal)``.

    The toolkit accepts a non-integer pixel count ≥ 1 and then builds an even-sized disk; that case is
    meaningless for a tolerance and is refused here rather than silently reproduced.
    """
    if bound_th >= 1:
        if float(bound_th) != int(bound_th):
            raise ValueError(f"bound_th >= 1 is a pixel count and must be a whole number, got {bound_th}")
        return int(bound_th)
    if bound_th <= 0:
        raise ValueError(f"bound_th must be positive, got {bound_th}")
    return int(math.ceil(bound_th * math.hypot(height, width)))


#: Words of one plane stack scored in one go (gt and prediction crops of a chunk of frames): large
#: enough to spread numpy's per-call cost, small enough that a dozen such stacks stay in L2 cache.
CHUNK_WORDS = 1 << 15
MAX_CHUNK_FRAMES = 32


@dataclass(frozen=True)
class _Box:
    """Rows ``top…bottom`` and packed bytes ``left…right`` (inclusive) holding frame ``frame``'s foreground."""

    frame: int
    top: int
    bottom: int
    left: int
    right: int

    @property
    def rows(self) -> int:  # the box plus the row above (it sees the mask to the south) and one below
        return self.bottom - self.top + 3

    @property
    def nbytes(self) -> int:  # the box plus one byte on the left (the west neighbour of the first column)
        return self.right - self.left + 2


def _boxes(gt: np.ndarray, pred: np.ndarray) -> list[_Box]:
    """The box of either mask in each frame that has foreground (OpenCV's summing reductions are one
    SIMD pass: rows over the whole stack, then byte columns over each frame's occupied rows)."""
    both = np.bitwise_or(gt, pred)
    frames, height, nbytes = both.shape
    rows = cv2.reduce(both.reshape(-1, nbytes), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(frames, height) > 0
    tops, bottoms = rows.argmax(axis=1).tolist(), (height - 1 - rows[:, ::-1].argmax(axis=1)).tolist()
    boxes = []
    for frame in np.flatnonzero(rows.any(axis=1)).tolist():
        top, bottom = tops[frame], bottoms[frame]
        columns = np.flatnonzero(cv2.reduce(both[frame, top:bottom + 1], 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S))
        boxes.append(_Box(frame, top, bottom, int(columns[0]), int(columns[-1])))
    return boxes


def _chunks(boxes: list[_Box], height: int, nbytes: int, guard: int) -> list[list[_Box]]:
    """Frames in order, grouped while 2 × frames × (their largest crop) stays within CHUNK_WORDS words."""
    chunks: list[list[_Box]] = []
    rows = words = 0
    for box in boxes:
        grown_rows, grown_words = max(rows, min(box.rows, height)), max(words, -(-min(box.nbytes, nbytes) // 8) + guard)
        if chunks and len(chunks[-1]) < MAX_CHUNK_FRAMES and \
                2 * (len(chunks[-1]) + 1) * grown_rows * grown_words <= CHUNK_WORDS:
            chunks[-1].append(box)
            rows, words = grown_rows, grown_words
        else:
            chunks.append([box])
            rows, words = min(box.rows, height), -(-min(box.nbytes, nbytes) // 8) + guard
    return chunks


def _f_from_counts(n_pred: np.ndarray, n_gt: np.ndarray, pred_matched: np.ndarray,
                   gt_matched: np.ndarray) -> np.ndarray:
    """The toolkit's precision, recall and F per frame, degenerate cases included.

    An empty prediction boundary has P = 1, an empty GT boundary R = 1; the matched counts are 0
    whenever the other boundary is empty, so P = 0 / R = 0 there as the toolkit's table says. The
    float64 operations are the toolkit's, in its order, so values are bit-identical.
    """
    precision, recall = _ratio(pred_matched, n_pred, 1.0), _ratio(gt_matched, n_gt, 1.0)
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros(len(total)), where=total != 0)


def _ratio(counts: np.ndarray, totals: np.ndarray, default: float) -> np.ndarray:
    """``counts / totals`` in float64 (the toolkit's ``n / float(total)``), ``default`` where ``totals`` is 0."""
    return np.divide(counts, totals, out=np.full(len(counts), default), where=totals > 0)


def _chunk_scores(gt: np.ndarray, pred: np.ndarray, boxes: list[_Box], width: int,
                  radius: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(J, F) of the frames of ``boxes`` from packed (T, H, bytes) stacks, void already removed; F NaN
    when radius is None.

    Each frame keeps its own crop; all crops of the chunk have one size, the largest box plus a row
    above (its pixels see the mask to the south), a row below and a byte on the left (the west
    neighbour of the first column is a boundary pixel). A crop slides inward at the image border: its
    last row is then the image's last row, where the toolkit's rule is "replicate", and otherwise an
    empty row, where both readings agree; a crop that reaches the image's last column gets that
    column replicated. Nothing outside a crop is a boundary pixel or can match one.
    """
    _, height, nbytes = gt.shape
    rows, crop_bytes = min(max(b.rows for b in boxes), height), min(max(b.nbytes for b in boxes), nbytes)
    tops = [min(max(b.top - 1, 0), height - rows) for b in boxes]
    lefts = [min(max(b.left - 1, 0), nbytes - crop_bytes) for b in boxes]
    frames = [b.frame for b in boxes]
    guard = guard_words(radius or 0, 8 * ((crop_bytes - 1) % 8) + 7)
    ws = workspace()
    planes = planes_from_crops((gt, pred), frames, tops, lefts, rows, crop_bytes, guard, max(radius or 0, 1), ws)
    count = len(boxes)
    gt_planes, pred_planes = planes[:count], planes[count:]
    both = ws.get("both", gt_planes.shape)
    inter = popcounts(np.bitwise_and(gt_planes, pred_planes, out=both), ws)
    j = _ratio(inter, popcounts(np.bitwise_or(gt_planes, pred_planes, out=both), ws), 1.0)
    if radius is None:
        return j, np.full(count, math.nan)
    last_row = [top + rows == height for top in tops]
    last_column = [width - 1 - 8 * left if left + crop_bytes == nbytes else None for left in lefts]
    boundaries = boundary_map(planes, rows, last_row * 2, last_column * 2, guard, ws)
    counts = popcounts(boundaries, ws)
    dilated = dilate_disk(boundaries, radius, ws)
    matched = ws.get("matched", planes.shape)  # each boundary against the other's dilation
    np.bitwise_and(boundaries[:count], dilated[count:], out=matched[:count])
    np.bitwise_and(boundaries[count:], dilated[:count], out=matched[count:])
    matched_counts = popcounts(matched, ws)
    return j, _f_from_counts(counts[count:], counts[:count], matched_counts[count:], matched_counts[:count])


def _packed_stack(name: str, array: np.ndarray) -> np.ndarray:
    """(T, H, ⌈W/8⌉) bit-packed copy of an (H, W) or (T, H, W) mask array (nonzero = foreground)."""
    array = np.asarray(array)
    if array.ndim not in (2, 3):
        raise ValueError(f"{name} must be (H, W) or (T, H, W), got shape {array.shape}")
    if array.dtype != np.bool_ and not np.issubdtype(array.dtype, np.integer):
        array = array != 0  # packbits takes any nonzero integer as 1, but no floats
    return pack_rows(array if array.ndim == 3 else array[None])


def jaccard_and_boundary(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None,
                         bound_th: float | None = DEFAULT_BOUND_TH) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F (float64 arrays of length T) in one pass; F is all-NaN when ``bound_th`` is None.

    Accepts (H, W) or (T, H, W) masks of any dtype (nonzero = foreground) and an optional void mask of
    the same shape. Computing both together shares the packing and the crop, which is why protocols
    call this.
    """
    if np.shape(gt) != np.shape(pred):
        raise ValueError(f"gt {np.shape(gt)} and pred {np.shape(pred)} shapes differ")
    gt_bytes, pred_bytes = _packed_stack("gt", gt), _packed_stack("pred", pred)
    if void is not None:
        if np.shape(void) != np.shape(gt):
            raise ValueError(f"void {np.shape(void)} and gt {np.shape(gt)} shapes differ")
        keep = ~_packed_stack("void", void)
        gt_bytes &= keep
        pred_bytes &= keep
    height, width = np.shape(gt)[-2:]
    frames, nbytes = len(gt_bytes), gt_bytes.shape[-1]
    radius = None if bound_th is None else boundary_radius(height, width, bound_th)
    j = np.ones(frames, np.float64)  # frames empty on both sides keep J = F = 1 (F NaN without F)
    f = np.full(frames, math.nan if radius is None else 1.0)
    guard = guard_words(radius or 0, WORD_BITS - 1)  # the most a chunk can need
    for chunk in _chunks(_boxes(gt_bytes, pred_bytes), height, nbytes, guard):
        indices = [box.frame for box in chunk]
        j[indices], f[indices] = _chunk_scores(gt_bytes, pred_bytes, chunk, width, radius)
    return j, f


def _per_frame_or_scalar(values: np.ndarray, reference: np.ndarray) -> float | np.ndarray:
    return float(values[0]) if np.ndim(reference) == 2 else values


def jaccard(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float | np.ndarray:
    """Region similarity J (the toolkit's ``db_eval_iou``): a float for (H, W), float64 (T,) for (T, H, W)."""
    return _per_frame_or_scalar(jaccard_and_boundary(gt, pred, void, bound_th=None)[0], gt)


def boundary_f(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None,
               bound_th: float = DEFAULT_BOUND_TH) -> float | np.ndarray:
    """Boundary F-measure (the toolkit's ``db_eval_boundary``): float for (H, W), float64 (T,) otherwise."""
    return _per_frame_or_scalar(jaccard_and_boundary(gt, pred, void, bound_th)[1], gt)


def decay_bins(num_frames: int) -> np.ndarray:
    """The toolkit's 5 bin edges ``round(linspace(1, n, 5) + 1e-10) - 1`` as int64.

    The toolkit casts them to uint8, which wraps once a video has 256 frames or more: at 256 frames
    the slice end ``255 + 1`` overflows to 0, and at 300 frames the last edge 299 becomes 43, so the
    last bin is empty and the decay NaN or taken from the wrong frames. rvosbench keeps int64; both
    agree for videos of at most 255 frames.
    """
    return (np.round(np.linspace(1, num_frames, 5) + 1e-10) - 1).astype(np.int64)


def db_statistics(per_frame: np.ndarray) -> tuple[float, float, float]:
    """Mean, recall (fraction > 0.5, strict) and decay (mean of the first quarter − last quarter).

    As in the toolkit, mean and decay skip NaN frames (``nanmean``) while recall counts them as
    failures (``NaN > 0.5`` is False); the decay bins are :func:`decay_bins`
    (the uint8 wrap fixed). The first bin is ``x[e0 : e1 + 1]`` and the last ``x[e3 : e4 + 1]``.
    """
    values = np.asarray(per_frame, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN slices give NaN, as upstream
        mean = float(np.nanmean(values))
        recall = float(np.nanmean(values > 0.5))
        edges = decay_bins(len(values))
        decay = float(np.nanmean(values[edges[0]:edges[1] + 1]) - np.nanmean(values[edges[3]:edges[4] + 1]))
    return mean, recall, decay
