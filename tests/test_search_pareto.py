"""Pareto sets and hypervolume for k objectives, cross-checked against brute force, Optuna's own
hypervolume and an exact grid computation; the incremental front equals the batch one."""
import itertools

import numpy as np
import pytest
from optuna._hypervolume import compute_hypervolume

from nos.search.pareto import Front, hypervolume, pareto_mask, reference_point

UP_DOWN = ("maximize", "minimize")


def brute_force_front(values, directions, ok):
    v = np.asarray(values, float) * np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    keep = []
    for i in range(len(v)):
        dominated = any(ok[j] and all(v[j] <= v[i]) and any(v[j] < v[i]) for j in range(len(v)))
        keep.append(bool(ok[i]) and not dominated)
    return np.array(keep)


def grid_hypervolume(values, directions, reference):
    """Exact dominated volume by coordinate compression: every cell between consecutive
    coordinates is dominated or not as a whole (independent of the slicing algorithm)."""
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    v = np.asarray(values, float) * sign
    ref = np.asarray(reference, float) * sign
    v = v[(v < ref).all(axis=1)]
    if not len(v):
        return 0.0
    axes = [np.unique(np.append(v[:, k], ref[k])) for k in range(v.shape[1])]
    total = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        low = np.array([a[i] for a, i in zip(axes, cell)])
        if (v <= low).all(axis=1).any():
            total += np.prod([a[i + 1] - a[i] for a, i in zip(axes, cell)])
    return float(total)


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize("k", [2, 3])
def test_pareto_mask_matches_brute_force(seed, k):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    directions = [("maximize", "minimize")[int(b)] for b in rng.integers(0, 2, k)]
    values = rng.integers(0, 6, (n, k)).astype(float)
    ok = rng.random(n) > 0.2
    assert np.array_equal(pareto_mask(values, directions, ok), brute_force_front(values, directions, ok))


@pytest.mark.parametrize("seed", range(15))
def test_two_objective_hypervolume_equals_optunas(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 50))
    p, lat = rng.normal(size=n), rng.uniform(1, 10, n)
    ref = (float(p.min()) - 0.5, 11.0)
    expected = compute_hypervolume(np.stack([-p, lat], 1), np.array([-ref[0], ref[1]]))
    assert hypervolume(np.stack([p, lat], 1), UP_DOWN, ref) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_three_objective_hypervolume_equals_the_exact_grid_and_optuna(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 14))
    values = np.column_stack([rng.uniform(0, 1, n), rng.uniform(1, 5, n), rng.integers(1, 6, n).astype(float)])
    directions = ("maximize", "minimize", "minimize")
    ref = (-0.1, 5.5, 6.5)
    expected = grid_hypervolume(values, directions, ref)
    assert hypervolume(values, directions, ref) == pytest.approx(expected, rel=1e-12)
    sign = np.array([-1.0, 1.0, 1.0])
    assert expected == pytest.approx(compute_hypervolume(values * sign, np.array(ref) * sign), rel=1e-9)


def test_hypervolume_by_hand_and_infeasible_points_ignored():
    # points (proxy, latency): (2, 1) and (3, 4); reference (0, 5): latency 1..4 best proxy 2 -> 6,
    # latency 4..5 best proxy 3 -> 3
    values = [[2, 1], [3, 4], [9, 0.5]]
    assert hypervolume(values, UP_DOWN, (0, 5), feasible=[True, True, False]) == pytest.approx(9.0)
    assert hypervolume([[2, 1], [3, 4]], UP_DOWN, (5, 5)) == 0.0
    assert pareto_mask([[1, 1], [np.inf, 1], [2, np.nan]], UP_DOWN).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="directions: unknown direction 'up'"):
        pareto_mask([[1, 2]], ("up", "minimize"))


def test_reference_point_is_beyond_the_worst_reference():
    assert reference_point([[1.0, 2.0], [3.0, 10.0]], UP_DOWN) == pytest.approx([0.8, 10.8])
    assert reference_point([[5.0, 1.0], [5.0, 1.0]], UP_DOWN) == pytest.approx([4.5, 1.1])


@pytest.mark.parametrize("seed", range(10))
def test_incremental_front_equals_the_batch_front(seed):
    rng = np.random.default_rng(seed)
    n = 60
    values = np.column_stack([rng.integers(0, 10, n), rng.integers(0, 10, n)]).astype(float)
    keys = rng.integers(0, 45, n)  # repeated keys: repeated architectures, the first one counts
    ok = rng.random(n) > 0.1
    front = Front(UP_DOWN)
    for key, v, feasible in zip(keys, values, ok):
        front.add(int(key), v, bool(feasible))
    first = {}
    for i, key in enumerate(keys):
        first.setdefault(int(key), i)
    rows = sorted(first.values())
    mask = pareto_mask(values[rows], UP_DOWN, ok[rows])
    expected = {int(keys[rows[i]]) for i in np.flatnonzero(mask)}
    assert set(front.keys) == expected
    assert front.hypervolume((-1, 11)) == pytest.approx(hypervolume(values[rows], UP_DOWN, (-1, 11), ok[rows]))
