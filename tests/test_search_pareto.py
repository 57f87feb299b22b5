"""Pareto set and hypervolume, cross-checked against brute force and Optuna's own hypervolume."""
import numpy as np
import pytest
from optuna._hypervolume import compute_hypervolume

from nos.search.pareto import hypervolume_2d, pareto_mask, reference_point


def brute_force_front(p, lat, ok):
    keep = []
    for i in range(len(p)):
        dominated = any(ok[j] and p[j] >= p[i] and lat[j] <= lat[i] and (p[j] > p[i] or lat[j] < lat[i])
                        for j in range(len(p)))
        keep.append(bool(ok[i]) and not dominated)
    return np.array(keep)


@pytest.mark.parametrize("seed", range(20))
def test_pareto_mask_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    p, lat = rng.integers(0, 8, n).astype(float), rng.integers(0, 8, n).astype(float)
    ok = rng.random(n) > 0.2
    assert np.array_equal(pareto_mask(p, lat, ok), brute_force_front(p, lat, ok))


@pytest.mark.parametrize("seed", range(20))
def test_hypervolume_equals_optunas(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 50))
    p, lat = rng.normal(size=n), rng.uniform(1, 10, n)
    ref = (float(p.min()) - 0.5, 11.0)
    expected = compute_hypervolume(np.stack([-p, lat], 1), np.array([-ref[0], ref[1]]))
    assert hypervolume_2d(p, lat, ref) == pytest.approx(expected, rel=1e-12)


def test_hypervolume_by_hand_and_infeasible_points_ignored():
    # points (proxy, latency): (2, 1) and (3, 4); reference (0, 5): area 2*3 + 3*1 = 9... by strips:
    # latency 1..4 best proxy 2 -> 3*2 = 6; latency 4..5 best proxy 3 -> 1*3 = 3
    assert hypervolume_2d([2, 3, 9], [1, 4, 0.5], (0, 5), feasible=[True, True, False]) == pytest.approx(9.0)
    assert hypervolume_2d([2, 3], [1, 4], (5, 5)) == 0.0
    assert pareto_mask([1, np.inf, 2], [1, 1, np.nan]).tolist() == [True, False, False]


def test_reference_point_is_below_and_beyond_the_references():
    ref = reference_point([1.0, 3.0], [2.0, 10.0])
    assert ref == pytest.approx((0.8, 11.0))
    assert reference_point([5.0, 5.0], [1.0, 1.0]) == pytest.approx((4.5, 1.1))
