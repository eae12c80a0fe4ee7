"""J and F: hand-computed rules from the toolkit's definitions, and agreement with the literal reference."""
import cv2
import numpy as np
import pytest

from rvosbench.metrics import boundary_f, jaccard
from rvosbench.metrics.davis import boundary_radius, db_statistics, decay_bins, jaccard_and_boundary

import davis_reference as ref


# ---------------------------------------------------------------------------------------- J rules
def test_jaccard_hand_computed():
    gt = np.zeros((4, 5), bool)
    pred = np.zeros((4, 5), bool)
    assert jaccard(gt, pred) == 1.0                       # empty union -> 1
    gt[1, 1:4] = True                                     # 3 px
    assert jaccard(gt, pred) == 0.0                       # missed object
    pred[1, 2:5] = True                                   # 3 px, 2 shared
    assert jaccard(gt, pred) == pytest.approx(2 / 4)
    void = np.zeros_like(gt)
    void[1, 4] = True                                     # the only false positive is void
    assert jaccard(gt, pred, void) == pytest.approx(2 / 3)
    void[:] = True                                        # everything void -> empty union -> 1
    assert jaccard(gt, pred, void) == 1.0


def test_jaccard_shapes_and_types():
    gt = np.zeros((3, 6, 7), np.uint8)
    gt[1, 2:4, 2:4] = 255                                 # any nonzero value is foreground
    values = jaccard(gt, gt.astype(bool))
    assert values.dtype == np.float64 and values.shape == (3,)
    assert np.all(values == 1.0)
    assert isinstance(jaccard(gt[1], gt[1]), float)
    with pytest.raises(ValueError):
        jaccard(gt, gt[:2])
    with pytest.raises(ValueError):
        jaccard(gt[None], gt[None])


# ---------------------------------------------------------------------------------------- F rules
def test_boundary_radius_matches_toolkit():
    assert boundary_radius(480, 854) == 8                 # ceil(0.008 * 979.6) = ceil(7.84)
    assert boundary_radius(720, 1280) == 12
    assert boundary_radius(10, 10) == 1
    assert boundary_radius(480, 854, bound_th=3) == 3     # a pixel count when >= 1
    with pytest.raises(ValueError):
        boundary_radius(480, 854, bound_th=2.5)


def test_boundary_f_degenerate_cases():
    empty = np.zeros((9, 11), bool)
    blob = empty.copy()
    blob[3:6, 3:7] = True
    assert boundary_f(empty, empty) == 1.0                # both boundaries empty: P = R = 1
    assert boundary_f(blob, empty) == 0.0                 # prediction empty: P = 1, R = 0
    assert boundary_f(empty, blob) == 0.0                 # GT empty: P = 0, R = 1
    assert boundary_f(blob, blob) == 1.0
    full = np.ones_like(empty)                            # a full mask has no boundary at all
    assert boundary_f(full, full) == 1.0
    assert boundary_f(full, blob) == 0.0
    assert boundary_f(empty, full) == 1.0                 # so a whole-frame false positive on an empty GT has F = 1
    assert jaccard(empty, full) == 0.0                    # (and J = 0), as in the toolkit


def test_seg2bmap_rule_single_pixel_and_corner():
    # an interior pixel at (2, 2) has boundary pixels (1,1), (1,2), (2,1) and itself: 4 pixels
    seg = np.zeros((5, 5), bool)
    seg[2, 2] = True
    assert set(zip(*np.nonzero(ref.seg2bmap(seg)))) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    # the bottom-right pixel is never a boundary pixel, so a mask of only that pixel has
    # boundary (3,3), (3,4) [looks south only], (4,3) [looks east only]
    seg = np.zeros((5, 5), bool)
    seg[4, 4] = True
    assert set(zip(*np.nonzero(ref.seg2bmap(seg)))) == {(3, 3), (3, 4), (4, 3)}
    # shifting that pixel by 3 (> radius 1) matches nothing: F = 0; by 1 everything is within reach
    other = np.zeros((5, 5), bool)
    other[1, 1] = True
    assert boundary_f(seg, other) == 0.0
    near = np.zeros((5, 5), bool)
    near[3, 3] = True
    # near's boundary {(2,2),(2,3),(3,2),(3,3)}: (2,2) is sqrt(2) > 1 from every pixel of seg's boundary
    assert boundary_f(seg, near) == pytest.approx(2 * (3 / 4) * 1 / (3 / 4 + 1))


def test_boundary_f_with_void_masks_both_maps():
    gt = np.zeros((12, 12), bool)
    gt[2:8, 2:8] = True
    pred = gt.copy()
    pred[2:8, 8:11] = True                                # a false-positive strip on the right
    void = np.zeros_like(gt)
    void[:, 8:] = True                                    # ... which is void
    assert boundary_f(gt, pred) < 1.0
    assert boundary_f(gt, pred, void) == 1.0


# ---------------------------------------------------------------------- agreement with the reference
def _random_masks(rng, frames, height, width):
    """A mix of the cases that break implementations: noise, blobs, border-touching boxes, single
    pixels, empty and full frames, and near-copies of the GT (the realistic case)."""
    from scipy import ndimage

    gt = np.zeros((frames, height, width), bool)
    pred = np.zeros_like(gt)
    for t in range(frames):
        kind = t % 6
        if kind == 0:
            gt[t] = rng.random((height, width)) < rng.uniform(0.05, 0.6)
            pred[t] = rng.random((height, width)) < rng.uniform(0.05, 0.6)
        elif kind == 1:
            field = ndimage.gaussian_filter(rng.standard_normal((height, width)), 2)
            gt[t] = field > 0.1
            pred[t] = ndimage.shift(gt[t], (rng.integers(-3, 4), rng.integers(-3, 4)), order=0)
        elif kind == 2:                                   # boxes touching the image border
            y, x = rng.integers(0, height), rng.integers(0, width)
            gt[t, y:, x:] = True
            pred[t, : rng.integers(1, height + 1), : rng.integers(1, width + 1)] = True
        elif kind == 3:                                   # single pixels, corners included
            gt[t, rng.integers(0, height), rng.integers(0, width)] = True
            pred[t, height - 1, width - 1] = True
        elif kind == 4:                                   # one side empty, or full
            gt[t] = rng.random((height, width)) < 0.3
            pred[t] = True if rng.random() < 0.5 else False
        else:
            gt[t] = rng.random((height, width)) < 0.5
            pred[t] = gt[t] ^ (rng.random((height, width)) < 0.05)
    return gt, pred


@pytest.mark.parametrize("height,width", [(1, 1), (1, 7), (6, 1), (2, 2), (13, 17), (31, 24), (48, 85), (97, 129)])
def test_fast_equals_reference_on_random_and_edge_masks(height, width):
    rng = np.random.default_rng(height * 1000 + width)
    gt, pred = _random_masks(rng, 24, height, width)
    void = rng.random(gt.shape) < 0.05
    for bound_th in (0.008, 0.05, 2):
        for v in (None, void):
            j, f = jaccard_and_boundary(gt, pred, v, bound_th)
            j_ref = ref.db_eval_iou(gt, pred, v)
            f_ref = ref.db_eval_boundary(gt, pred, v, bound_th)
            np.testing.assert_allclose(j, j_ref, rtol=0, atol=1e-12)
            np.testing.assert_allclose(f, f_ref, rtol=0, atol=1e-12)


def test_fast_equals_reference_at_davis_resolution():
    rng = np.random.default_rng(7)
    gt, pred = _random_masks(rng, 6, 480, 854)
    j, f = jaccard_and_boundary(gt, pred)
    np.testing.assert_allclose(j, ref.db_eval_iou(gt, pred), rtol=0, atol=1e-12)
    np.testing.assert_allclose(f, ref.db_eval_boundary(gt, pred), rtol=0, atol=1e-12)
    assert isinstance(boundary_f(gt[1], pred[1]), float)


@pytest.mark.parametrize("height,width", [(9, 63), (9, 64), (9, 65), (7, 128), (5, 129), (40, 200)])
def test_fast_equals_reference_across_word_boundaries(height, width):
    """Widths around the 64-pixel word, objects ending on a word's last columns (no room for the
    dilation's spill: guard words) and tolerances wider than half a word (several guard words)."""
    rng = np.random.default_rng(width)
    gt, pred = _random_masks(rng, 12, height, width)
    gt[0], pred[0] = False, False
    gt[0, :, width - 3:] = True                             # foreground up to the last column
    pred[1, :, :2] = True                                   # and from the first one
    for bound_th in (0.008, 2, 9, 33, 40):
        j, f = jaccard_and_boundary(gt, pred, None, bound_th)
        np.testing.assert_array_equal(j, ref.db_eval_iou(gt, pred))
        np.testing.assert_array_equal(f, ref.db_eval_boundary(gt, pred, None, bound_th))


def test_fast_equals_reference_over_long_videos_with_empty_and_moving_frames():
    """Frames are scored in chunks that share a crop: empty frames between, objects that jump."""
    rng = np.random.default_rng(3)
    frames, height, width = 70, 60, 90
    gt = np.zeros((frames, height, width), bool)
    pred = np.zeros_like(gt)
    for t in range(frames):
        if t % 7 == 3:
            continue                                        # both empty
        y, x = (5 + 3 * t) % 50, (80 - 5 * t) % 80
        gt[t, y:y + 9, x:x + 11] = True
        pred[t] = np.roll(gt[t], (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
        if t % 11 == 0:
            pred[t] = False                                 # one side empty
    pred[-1] = rng.random((height, width)) < 0.4            # a noisy full frame at the end
    j, f = jaccard_and_boundary(gt, pred)
    np.testing.assert_array_equal(j, ref.db_eval_iou(gt, pred))
    np.testing.assert_array_equal(f, ref.db_eval_boundary(gt, pred))
    j, f = jaccard_and_boundary(gt.astype(np.uint8) * 255, pred.astype(np.int32) * 3, bound_th=None)
    np.testing.assert_array_equal(j, ref.db_eval_iou(gt, pred))
    assert np.isnan(f).all()


def test_disk_half_widths_are_the_disk():
    from rvosbench.metrics.bitplanes import disk_half_widths

    for radius in (1, 2, 5, 8, 12, 40):
        covered = np.zeros((2 * radius + 1, 2 * radius + 1), bool)
        for dy, half_width in enumerate(disk_half_widths(radius)):
            covered[[radius - dy, radius + dy], radius - half_width:radius + half_width + 1] = True
        np.testing.assert_array_equal(covered, ref.skimage_disk(radius).astype(bool))


def test_dilation_is_the_disk_dilation_across_words_and_planes():
    from rvosbench.metrics.bitplanes import dilate_disk, guard_words, workspace

    rng = np.random.default_rng(5)
    for radius, width in ((1, 64), (8, 130), (12, 70), (16, 150), (31, 200)):
        masks = rng.random((3, 40, width)) < 0.01
        words = -(-width // 64)
        guard = guard_words(radius, 63)
        planes = np.zeros((3, 40 + radius, words + guard), np.uint64)  # each plane ends with radius empty rows
        packed = np.packbits(masks, axis=-1, bitorder="little")
        planes.view(np.uint8)[:, :40, :packed.shape[-1]] = packed
        dilated = dilate_disk(planes, radius, workspace())
        got = np.unpackbits(dilated.view(np.uint8), axis=-1, bitorder="little")[:, :40, :width].astype(bool)
        disk = ref.skimage_disk(radius).astype(np.uint8)
        expected = np.stack([cv2.dilate(m.astype(np.uint8), disk) > 0 for m in masks])
        np.testing.assert_array_equal(got, expected)


def test_reference_equals_brute_force_definition():
    rng = np.random.default_rng(11)
    for trial in range(40):
        height, width = rng.integers(1, 9, size=2)
        gt = rng.random((height, width)) < 0.4
        pred = rng.random((height, width)) < 0.4
        void = rng.random((height, width)) < 0.1 if trial % 2 else None
        radius = int(rng.integers(1, 4))
        expected = ref.brute_force_f(gt, pred, void, radius)
        assert ref.f_measure(pred, gt, void, bound_th=radius) == pytest.approx(expected, abs=1e-12)
        assert boundary_f(gt, pred, void, bound_th=radius) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------------- statistics
def test_db_statistics_hand_computed():
    values = np.array([1.0, 0.8, 0.6, 0.4, 0.2])
    mean, recall, decay = db_statistics(values)
    assert mean == pytest.approx(0.6)
    assert recall == pytest.approx(3 / 5)                 # 0.6, 0.8, 1.0 are > 0.5
    # 5 frames: edges [0, 1, 2, 3, 4]; first bin x[0:2] = (1.0, 0.8), last x[3:5] = (0.4, 0.2)
    assert decay == pytest.approx(0.9 - 0.3)
    assert db_statistics(np.array([0.5, 0.5]))[1] == 0.0  # strict inequality


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_decay_uint8_wrap_is_fixed():
    values = np.linspace(1.0, 0.0, 300)                   # steadily decaying over 300 frames
    edges = decay_bins(300)
    assert edges.tolist() == [0, 75, 150, 224, 299]
    mean, recall, decay = db_statistics(values)
    assert decay == pytest.approx(values[0:76].mean() - values[224:300].mean())
    # the toolkit's uint8 cast wraps 299 to 43: its last bin is x[224:44] = empty -> NaN decay
    assert np.isnan(ref.db_statistics_uint8(values)[2])
    # already at 256 frames the toolkit's `edge + 1` overflows (uint8 255 + 1 = 0): empty last bin
    assert np.isnan(ref.db_statistics_uint8(values[:256])[2]) and not np.isnan(db_statistics(values[:256])[2])
    # and both agree wherever no wrap happens
    short = np.random.default_rng(0).random(255)
    assert db_statistics(short) == pytest.approx(ref.db_statistics_uint8(short))
