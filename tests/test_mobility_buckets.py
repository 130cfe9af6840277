"""Bucket-queue searches (kernels.paths.nearest_source / count_within) against scipy and the heap search.

The bucket search is exact for any weights; these graphs exercise the cases
where it re-scans (zero weights, a weight range wider than the bucket array),
jumps over empty buckets (far-apart start offsets) or hands over to the heap
(labels too large for a bucket index).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra as sp_dijkstra

from kernels.paths import (
    _MAX_BUCKETS,
    _count_within_heap,
    _nearest_source_heap,
    bucket_width,
    count_within,
    csr_from_edges,
    nearest_source,
)


def graph(seed: int, n: int, m: int, scale: str = "uniform", zero_share: float = 0.0):
    rng = np.random.default_rng(seed)
    tails = rng.integers(0, n, m)
    heads = rng.integers(0, n, m)
    keep = tails != heads
    tails, heads = tails[keep].astype(np.int64), heads[keep].astype(np.int64)
    if scale == "log":  # 9 decades: wider than the bucket array, so the width is capped
        w = 10.0 ** rng.uniform(-6, 3, len(tails))
    else:
        w = rng.uniform(0.0, 10.0, len(tails))
    w[rng.random(len(tails)) < zero_share] = 0.0
    return tails, heads, w


def reference(n, tails, heads, w, sources, offsets, limit=np.inf):
    """min over sources of offset + scipy distance (zero weights as 1e-300: csgraph drops explicit zeros)."""
    out = np.full(n, np.inf)
    if len(tails):
        best: dict = {}  # parallel links: csr_matrix would add them, keep the minimum
        for t, h, x in zip(tails.tolist(), heads.tolist(), w.tolist(), strict=True):
            best[(t, h)] = min(best.get((t, h), np.inf), x)
        keys = np.array(list(best))
        vals = np.array([max(v, 1e-300) for v in best.values()])
        g = csr_matrix((vals, (keys[:, 0], keys[:, 1])), shape=(n, n))
        d = sp_dijkstra(g, directed=True, indices=sources)
    else:
        d = np.full((len(sources), n), np.inf)
        d[np.arange(len(sources)), sources] = 0.0
    total = d + offsets[:, None]
    total[total > limit] = np.inf
    return total.min(axis=0) if len(sources) else out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 70),
    density=st.floats(0.0, 4.0),
    k=st.integers(1, 6),
    scale=st.sampled_from(["uniform", "log"]),
    zero_share=st.sampled_from([0.0, 0.3]),
    spread=st.sampled_from([0.0, 3.0, 1e5]),
    limit=st.sampled_from([np.inf, 8.0]),
)
def test_nearest_source_equals_scipy(seed, n, density, k, scale, zero_share, spread, limit):
    tails, heads, w = graph(seed, n, int(density * n) + 1, scale, zero_share)
    rng = np.random.default_rng(seed + 1)
    sources = rng.integers(0, n, k).astype(np.int64)
    offsets = rng.uniform(0.0, spread, k) if spread else np.zeros(k)
    indptr, adj_head, adj_link = csr_from_edges(n, tails, heads)
    dist, nearest = nearest_source(indptr, adj_head, adj_link, w, sources, offsets, limit)
    ref = reference(n, tails, heads, w, sources, offsets, limit)
    np.testing.assert_allclose(dist, ref, rtol=1e-12, atol=1e-12)
    reached = np.isfinite(dist)
    assert (nearest[~reached] == -1).all()
    # the reported source really is at that distance
    for v in np.flatnonzero(reached):
        s = nearest[v]
        own = reference(n, tails, heads, w, sources[s : s + 1], offsets[s : s + 1])
        assert own[v] == pytest.approx(dist[v], rel=1e-12, abs=1e-12)


def test_exactly_scipy_on_a_street_grid():
    """Unique shortest paths: the same additions in the same order give bit-identical times."""
    rng = np.random.default_rng(3)
    side = 40
    ids = np.arange(side * side).reshape(side, side)
    seg = np.concatenate(
        [
            np.stack([ids[:, :-1].ravel(), ids[:, 1:].ravel()], 1),
            np.stack([ids[:-1].ravel(), ids[1:].ravel()], 1),
        ]
    )
    seg = seg[rng.random(len(seg)) >= 0.1]
    tails = np.concatenate([seg[:, 0], seg[:, 1]]).astype(np.int64)
    heads = np.concatenate([seg[:, 1], seg[:, 0]]).astype(np.int64)
    w = rng.uniform(57.0, 86.0, len(tails))
    services = rng.choice(side * side, 30, replace=False).astype(np.int64)
    indptr, adj_head, adj_link = csr_from_edges(side * side, heads, tails)
    dist, _ = nearest_source(indptr, adj_head, adj_link, w, services, np.zeros(30), np.inf)
    g = csr_matrix((w, (heads, tails)), shape=(side * side,) * 2)
    np.testing.assert_array_equal(dist, sp_dijkstra(g, directed=True, indices=services, min_only=True))


def test_zero_weight_cycle_repeated_sources_and_ties():
    # 0 -0-> 1 -0-> 2 -0-> 0, 2 -5-> 3; sources 3 (offset 1), 0 twice (offsets 4 and 2)
    tails, heads = np.array([0, 1, 2, 2]), np.array([1, 2, 0, 3])
    w = np.array([0.0, 0.0, 0.0, 5.0])
    indptr, adj_head, adj_link = csr_from_edges(5, tails, heads)
    dist, nearest = nearest_source(
        indptr, adj_head, adj_link, w, np.array([3, 0, 0]), np.array([1.0, 4.0, 2.0]), np.inf
    )
    assert dist.tolist() == [2.0, 2.0, 2.0, 1.0, np.inf]
    assert nearest.tolist() == [2, 2, 2, 0, -1]


def test_huge_offsets_use_the_heap_and_agree():
    tails, heads, w = graph(5, 50, 200)
    indptr, adj_head, adj_link = csr_from_edges(50, tails, heads)
    sources = np.array([0, 7, 9], dtype=np.int64)
    offsets = np.array([1e30, 0.0, 3.0])  # 1e30 / delta does not fit an int64 bucket index
    got = nearest_source(indptr, adj_head, adj_link, w, sources, offsets, np.inf)
    heap = _nearest_source_heap(indptr, adj_head, adj_link, w, sources, offsets, np.inf)
    np.testing.assert_array_equal(got[0], heap[0])
    np.testing.assert_allclose(got[0], reference(50, tails, heads, w, sources, offsets), rtol=1e-12)


def test_bucket_width():
    assert bucket_width(np.zeros(0)) == (1.0, 4)
    assert bucket_width(np.zeros(3)) == (1.0, 4)
    assert bucket_width(np.array([2.0, np.inf])) == (2.0, 4)  # unusable links do not widen the window
    delta, nb = bucket_width(np.array([0.0, 2.0, 7.0]))
    assert delta == 2.0 and nb == 8  # 7 / 2 + 3 = 6.5 -> 8
    delta, nb = bucket_width(np.array([1e-9, 1e3]))  # capped: the width grows, the array does not
    assert nb == _MAX_BUCKETS and delta == pytest.approx(1e3 / (_MAX_BUCKETS - 3))


def _targets(rng, n, n_targets):
    node = rng.integers(0, n, n_targets).astype(np.int64)
    order = np.argsort(node, kind="stable").astype(np.int64)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(node, minlength=n), out=ptr[1:])
    return node, ptr, order


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(2, 60),
    chunks=st.integers(1, 5),
    scale=st.sampled_from(["uniform", "log"]),
    integer=st.booleans(),
)
def test_count_within_equals_scipy_and_the_heap(seed, n, chunks, scale, integer):
    rng = np.random.default_rng(seed)
    tails, heads, w = graph(seed, n, 3 * n, scale, zero_share=0.2)
    k = int(rng.integers(1, 9))
    sources = rng.integers(0, n, k).astype(np.int64)
    sdist = rng.uniform(0, 2, k)
    sweight = rng.integers(1, 4, k).astype(float) if integer else rng.uniform(0.1, 3.0, k)
    n_targets = int(rng.integers(0, 2 * n))
    node, ptr, order = _targets(rng, n, n_targets)
    tdist = rng.uniform(0, 2, n_targets)
    thr = np.array([5.0, 12.0])
    indptr, adj_head, adj_link = csr_from_edges(n, tails, heads)
    args = (indptr, adj_head, adj_link, w, sources, sdist, sweight, thr, ptr, order, tdist, n_targets, chunks)
    got = count_within(*args)
    heap = _count_within_heap(*args)
    np.testing.assert_array_equal(got, heap)  # same chunks, same additions in the same order
    ref = np.zeros((n_targets, 2))
    for i in range(k):
        d = reference(n, tails, heads, w, sources[i : i + 1], sdist[i : i + 1])
        total = d[node] + tdist
        for j in range(2):
            ref[:, j] += np.where(total <= thr[j], sweight[i], 0.0)
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_count_within_does_not_depend_on_the_thread_count():
    rng = np.random.default_rng(11)
    tails, heads, w = graph(11, 400, 1600)
    sources = rng.integers(0, 400, 60).astype(np.int64)
    node, ptr, order = _targets(rng, 400, 500)
    indptr, adj_head, adj_link = csr_from_edges(400, tails, heads)
    graph_args = (indptr, adj_head, adj_link, w, sources, np.zeros(60))
    target_args = (np.array([4.0, 9.0]), ptr, order, np.zeros(500), 500, 7)
    weight_sets = (np.ones(60), rng.uniform(0.1, 1.0, 60))  # integer (exact) and fractional weights
    results = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            for weights in weight_sets:
                results.append(count_within(*graph_args, weights, *target_args))
    finally:
        numba.set_num_threads(before)
    if len(results) == 4:
        np.testing.assert_array_equal(results[0], results[2])
        np.testing.assert_array_equal(results[1], results[3])
    assert results[0].max() > 0


def test_infinite_weights_and_offsets_beyond_the_limit():
    tails, heads, w = graph(9, 40, 160)
    w[::7] = np.inf  # links that cannot be used
    indptr, adj_head, adj_link = csr_from_edges(40, tails, heads)
    sources = np.array([0, 5, 6], dtype=np.int64)
    offsets = np.array([0.0, 1e300, np.inf])
    dist, nearest = nearest_source(indptr, adj_head, adj_link, w, sources, offsets, 12.0)
    finite = np.isfinite(w)
    ref = reference(40, tails[finite], heads[finite], w[finite], sources[:1], offsets[:1], 12.0)
    np.testing.assert_allclose(dist, ref, rtol=1e-12)
    assert set(nearest[np.isfinite(dist)].tolist()) <= {0}
    got = nearest_source(indptr, adj_head, adj_link, np.where(finite, w, 1e9), sources, offsets, 12.0)[0]
    np.testing.assert_allclose(got, ref, rtol=1e-12)  # the bucket search itself (finite weights)


def test_array_buckets_overflow_is_undone_and_the_linked_lists_agree():
    from kernels.paths import _array_reset, _array_search, _bucket_search, _bucket_workspace, _compact_csr

    tails, heads, w = graph(21, 60, 300, zero_share=0.3)
    indptr, adj_head, adj_link = csr_from_edges(60, tails, heads)
    ptr32, head32, wslot, wmin, wmax = _compact_csr(indptr, adj_head, adj_link, w)
    delta, nb = bucket_width(wslot)
    src = np.array([0, 1], dtype=np.int32)
    sd = np.zeros(2)
    lab = np.arange(2, dtype=np.int32)
    dist = np.full(60, np.inf)
    label = np.full(60, -1, dtype=np.int32)
    inb = np.full(60, -1, dtype=np.int32)
    bkt = np.empty((nb, 1), dtype=np.int32)  # one entry per bucket: overflows at once
    bcnt = np.zeros(nb, dtype=np.int64)
    touched = np.empty(60, dtype=np.int32)
    nt = _array_search(
        ptr32, head32, wslot, src, sd, lab, np.inf, delta, dist, label, inb, bkt, bcnt, touched
    )
    assert nt < 0
    _array_reset(-1 - nt, touched, dist, label, inb, bcnt)
    assert np.isinf(dist).all() and (inb == -1).all() and (bcnt == 0).all() and (label == -1).all()
    ws = _bucket_workspace(60, nb)
    _bucket_search(ptr32, head32, wslot, src, sd, lab, np.inf, delta, *ws)
    ref = reference(60, tails, heads, w, np.array([0, 1]), np.zeros(2))
    np.testing.assert_allclose(ws[0], ref, rtol=1e-12, atol=1e-12)
    dist2, _ = nearest_source(indptr, adj_head, adj_link, w, np.array([0, 1]), np.zeros(2), np.inf)
    np.testing.assert_array_equal(dist2, ws[0])  # the array buckets (no overflow) give the same
