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
* Frames are scored in chunks of consecutive frames that share one crop: the rows holding either
  mask (plus the row above, whose pixels see the mask to the south, and the row below) and the words
  holding them. Nothing outside that box is a boundary pixel or can match one, so the work scales
  with the objects, not the frame, and one numpy call covers the whole chunk.
* ``seg2bmap``'s border rule is exactly "replicate the last row and column"; a crop's last row is
  either the image's last row or an empty one, where both readings agree.
* The disk dilation is a staircase of row and column dilations (its distinct row half-widths),
  built with doubling steps, about seventy word operations for the 8-pixel tolerance.
* Counts are popcounts; the divisions are the same float64 operations in the toolkit's order, so the
  values are bit-identical, not merely close (``tests/metrics`` checks equality with the toolkit's
  algorithm, ``rvosbench bench metrics`` with the toolkit itself).
"""
from __future__ import annotations

import math
import warnings

import cv2
import numpy as np

from rvosbench.metrics.bitplanes import (boundary_map, dilate_disk, guard_words, pack_rows,
                                         planes_from_bytes, popcounts, workspace)

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


#: Rows (summed over frames) of the crop stack scored in one go: enough frames of a small object to
#: spread numpy's per-call cost, about four full 480-row frames so that the planes stay in cache.
CHUNK_ROWS = 2048
MAX_CHUNK_FRAMES = 32


def _any_along(stacks: tuple[np.ndarray, ...], axis: int) -> np.ndarray:
    """Packed (N, rows, bytes) stacks seen as (N·rows, bytes): which rows (axis 1) or byte columns
    (axis 0) hold foreground in any of them (OpenCV's summing reduction is one SIMD pass)."""
    sums = [cv2.reduce(np.ascontiguousarray(stack).reshape(-1, stack.shape[-1]), axis, cv2.REDUCE_SUM,
                       dtype=cv2.CV_32S) for stack in stacks]
    return (sum(sums) > 0).ravel()


def _chunks(occupied: np.ndarray) -> list[slice]:
    """Consecutive frames grouped while (rows of their common crop) × frames stays within CHUNK_ROWS.

    ``occupied`` is (T, H): rows with foreground in either mask. Frames with none are left out (their
    J and F are 1 whatever their neighbours do).
    """
    any_rows = occupied.any(axis=1)
    first = np.where(any_rows, occupied.argmax(axis=1), -1)
    last = np.where(any_rows, occupied.shape[1] - 1 - occupied[:, ::-1].argmax(axis=1), -1)
    chunks: list[slice] = []
    start = top = bottom = None
    for t in np.flatnonzero(any_rows).tolist():
        if start is not None:
            new_top, new_bottom = min(top, first[t]), max(bottom, last[t])
            if t - start < MAX_CHUNK_FRAMES and (new_bottom - new_top + 3) * (t - start + 1) <= CHUNK_ROWS:
                top, bottom = new_top, new_bottom
                continue
            chunks.append(slice(start, t))
        start, top, bottom = t, first[t], last[t]
    if start is not None:
        chunks.append(slice(start, len(occupied)))
    return chunks


def _f_from_counts(n_pred: np.ndarray, n_gt: np.ndarray, pred_matched: np.ndarray,
                   gt_matched: np.ndarray) -> np.ndarray:
    """The toolkit's precision, recall and F per frame, degenerate cases included.

    An empty prediction boundary has P = 1, an empty GT boundary R = 1; the matched counts are 0
    whenever the other boundary is empty, so P = 0 / R = 0 there as the toolkit's table says. The
    float64 operations are the toolkit's, in its order, so values are bit-identical.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_pred > 0, pred_matched / n_pred.astype(np.float64), 1.0)
        recall = np.where(n_gt > 0, gt_matched / n_gt.astype(np.float64), 1.0)
        total = precision + recall
        return np.where(total == 0, 0.0, 2 * precision * recall / total)


def _chunk_scores(gt: np.ndarray, pred: np.ndarray, occupied: np.ndarray, width: int,
                  radius: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(J, F) per frame of packed (T, H, bytes) stacks, void already removed; F NaN when radius is None.

    ``occupied`` (T, H) marks the rows with foreground in either mask. All frames share one crop: the
    rows from one above the first occupied row (its pixels see that row to the south) to one below
    the last (an empty row, whose "replicate" reading agrees with the real neighbour), and the
    8-column bytes holding foreground plus one on the left (the west neighbour of the first column
    is a boundary pixel).
    """
    frames, height, _ = gt.shape
    rows = np.flatnonzero(occupied.any(axis=0))
    top, bottom = max(int(rows[0]) - 1, 0), min(int(rows[-1]) + 2, height)
    gt_bytes, pred_bytes = gt[:, top:bottom], pred[:, top:bottom]
    used = np.flatnonzero(_any_along((gt_bytes, pred_bytes), axis=0))  # bytes, 8 per word
    first, stop = max(int(used[0]) - 1, 0), int(used[-1]) + 1  # one byte of room on the left
    guard = guard_words(radius or 0, 8 * ((stop - 1 - first) % 8) + 7)
    ws = workspace()
    planes = planes_from_bytes((gt_bytes, pred_bytes), first, stop, guard, ws)
    gt_planes, pred_planes = planes[:frames], planes[frames:]
    both = ws.get("both", gt_planes.shape)
    inter = popcounts(np.bitwise_and(gt_planes, pred_planes, out=both))
    union = popcounts(np.bitwise_or(gt_planes, pred_planes, out=both))
    with np.errstate(divide="ignore", invalid="ignore"):
        j = np.where(union == 0, 1.0, inter / union)
    if radius is None:
        return j, np.full(frames, math.nan)
    replicate_col = width - 1 - 8 * first if stop == gt.shape[-1] else None
    boundaries = boundary_map(planes, replicate_col, guard, ws)
    counts = popcounts(boundaries)
    dilated = dilate_disk(boundaries, radius, ws)
    matched = ws.get("matched", planes.shape)  # each boundary against the other's dilation
    np.bitwise_and(boundaries[:frames], dilated[frames:], out=matched[:frames])
    np.bitwise_and(boundaries[frames:], dilated[:frames], out=matched[frames:])
    matched_counts = popcounts(matched)
    return j, _f_from_counts(counts[frames:], counts[:frames], matched_counts[frames:], matched_counts[:frames])


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
    frames = len(gt_bytes)
    radius = None if bound_th is None else boundary_radius(height, width, bound_th)
    j = np.ones(frames, np.float64)  # frames empty on both sides keep J = F = 1 (F NaN without F)
    f = np.full(frames, math.nan if radius is None else 1.0)
    occupied = _any_along((gt_bytes, pred_bytes), axis=1).reshape(frames, height)
    for chunk in _chunks(occupied):
        j[chunk], f[chunk] = _chunk_scores(gt_bytes[chunk], pred_bytes[chunk], occupied[chunk], width, radius)
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
