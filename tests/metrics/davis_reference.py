"""A literal re-implementation of the davis2017-evaluation J/F maths, written from its definitions.

The official toolkit (davisvideochallenge/davis2017-evaluation) is not on PyPI, so the tests and
``rvosbench bench metrics`` compare the fast implementation against this module instead. It follows the
toolkit's algorithm step by step and keeps its costs (a loop over frames, full-frame boolean maps,
products, ``np.sum`` over whole frames, a disk built per call like ``skimage.morphology.disk``, and
``cv2.dilate`` with that disk), so its timings stand in for the toolkit's. It is deliberately
independent of ``rvosbench.metrics.davis`` (no cropping, no rectangle decomposition).

``brute_force_f`` below re-derives F with plain Python loops over pixels (no OpenCV at all) for tiny
masks, which checks this reference itself.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def skimage_disk(radius: float) -> np.ndarray:
    """``skimage.morphology.disk``: the points of the (2r+1)² grid with x² + y² ≤ r²."""
    axis = np.arange(-radius, radius + 1)
    x, y = np.meshgrid(axis, axis)
    return np.array((x ** 2 + y ** 2) <= radius ** 2, dtype=np.uint8)


def db_eval_iou(annotation, segmentation, void_pixels=None):
    annotation = annotation.astype(bool)
    segmentation = segmentation.astype(bool)
    void_pixels = np.zeros_like(segmentation) if void_pixels is None else void_pixels.astype(bool)
    inters = np.sum((segmentation & annotation) & np.logical_not(void_pixels), axis=(-2, -1))
    union = np.sum((segmentation | annotation) & np.logical_not(void_pixels), axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 is replaced by 1 just below
        j = inters / union
    if j.ndim == 0:
        return 1 if np.isclose(union, 0) else j
    j[np.isclose(union, 0)] = 1
    return j


def seg2bmap(seg):
    seg = seg.astype(bool)
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    b = seg ^ east | seg ^ south | seg ^ south_east
    b[-1, :] = seg[-1, :] ^ east[-1, :]
    b[:, -1] = seg[:, -1] ^ south[:, -1]
    b[-1, -1] = 0
    return b


def f_measure(foreground_mask, gt_mask, void_pixels=None, bound_th=0.008):
    void_pixels = (np.zeros_like(foreground_mask).astype(bool) if void_pixels is None
                   else void_pixels.astype(bool))
    bound_pix = bound_th if bound_th >= 1 else np.ceil(bound_th * np.linalg.norm(foreground_mask.shape))
    fg_boundary = seg2bmap(foreground_mask * np.logical_not(void_pixels))
    gt_boundary = seg2bmap(gt_mask * np.logical_not(void_pixels))
    fg_dil = cv2.dilate(fg_boundary.astype(np.uint8), skimage_disk(bound_pix).astype(np.uint8))
    gt_dil = cv2.dilate(gt_boundary.astype(np.uint8), skimage_disk(bound_pix).astype(np.uint8))
    gt_match = gt_boundary * fg_dil
    fg_match = fg_boundary * gt_dil
    n_fg = np.sum(fg_boundary)
    n_gt = np.sum(gt_boundary)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1, 0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0, 1
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1, 1
    else:
        precision = np.sum(fg_match) / float(n_fg)
        recall = np.sum(gt_match) / float(n_gt)
    if precision + recall == 0:
        return 0
    return 2 * precision * recall / (precision + recall)


def db_eval_boundary(annotation, segmentation, void_pixels=None, bound_th=0.008):
    if annotation.ndim == 2:
        return f_measure(segmentation, annotation, void_pixels, bound_th=bound_th)
    result = np.zeros(annotation.shape[0])
    for t in range(annotation.shape[0]):
        void_t = None if void_pixels is None else void_pixels[t]
        result[t] = f_measure(segmentation[t], annotation[t], void_t, bound_th=bound_th)
    return result


def db_statistics_uint8(per_frame_values):
    """The toolkit's statistics *with* its uint8 bin cast, to show what the fix changes."""
    mean = np.nanmean(per_frame_values)
    recall = np.nanmean(per_frame_values > 0.5)
    ids = (np.round(np.linspace(1, len(per_frame_values), 5) + 1e-10) - 1).astype(np.uint8)
    bins = [per_frame_values[ids[i]:ids[i + 1] + 1] for i in range(4)]
    return mean, recall, np.nanmean(bins[0]) - np.nanmean(bins[3])


def brute_force_f(gt, pred, void=None, radius=1):
    """F by definition with Python loops over pixels: only for masks of a few hundred pixels."""
    height, width = gt.shape
    void = np.zeros_like(gt, bool) if void is None else void

    def value(seg, y, x):
        # seg2bmap's border rule is the same as replicating the last row and column
        return bool(seg[min(y, height - 1), min(x, width - 1)]) and not void[min(y, height - 1), min(x, width - 1)]

    def boundary(seg):
        points = set()
        for y in range(height):
            for x in range(width):
                here = value(seg, y, x)
                if here != value(seg, y, x + 1) or here != value(seg, y + 1, x) or here != value(seg, y + 1, x + 1):
                    points.add((y, x))
        return points

    def matched(points, others):
        return sum(1 for (y, x) in points if any((y - v) ** 2 + (x - u) ** 2 <= radius ** 2 for (v, u) in others))

    pred_b, gt_b = boundary(pred), boundary(gt)
    if not pred_b and not gt_b:
        return 1.0
    if not pred_b or not gt_b:
        return 0.0
    precision = matched(pred_b, gt_b) / len(pred_b)
    recall = matched(gt_b, pred_b) / len(gt_b)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def radius_for(shape, bound_th=0.008):
    """The toolkit's bound_pix as an int (for brute_force_f)."""
    return int(bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*shape)))
