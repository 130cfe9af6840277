"""Shortest paths over CSR arrays: binary-heap Dijkstra, bounded and multi-source searches.

Graphs are directed and given in compressed sparse row (CSR) form built by
:func:`csr_from_edges`: the out-links of node ``u`` are the CSR slots
``indptr[u]:indptr[u + 1]``; slot ``s`` leads to node ``adj_head[s]`` along
link ``adj_link[s]``.  Link weights are indexed by *link* (``weight[link]``),
so one CSR serves every cost vector (free-flow times, congested costs, walking
times).  Nodes are ``0 .. n - 1``; weights must be finite and ``>= 0``
(the Python wrappers in ``simulation/`` check this).

The searches implement Dijkstra's algorithm (Dijkstra 1959, *Numer. Math.*
1:269-271) with a binary heap (Cormen et al., *Introduction to Algorithms*,
3rd ed., ch. 6 and §24.3) that uses lazy deletion instead of decrease-key: an
improved label is pushed again and stale entries are skipped when popped
(Chen et al. 2007, "Priority queues and Dijkstra's algorithm", UTCS TR-07-54,
found this variant faster than decrease-key heaps in practice).
Three variants serve the twin:

* single source, full or bounded (``limit``), optionally with *no-through*
  nodes that paths may end at but never pass through (TNTP centroids,
  ``<FIRST THRU NODE>``);
* multi-source "nearest facility" search (all sources start at once with their
  own offsets; each node learns its nearest source), used on the reversed
  graph for "time to the nearest school" from every building;
* "how much is reachable within T": one bounded search per source, parallel
  over sources with per-chunk accumulators reduced serially afterwards.

The reverse multi-source and bounded approach is the one the mobility
reference sheet (section 4) measured 10-137x faster than per-origin searches
or contraction hierarchies for 15-minute-city indicators.

All kernels import only numpy, numba and math.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from kernels._jit import jit, pjit

__all__ = [
    "aon_load",
    "count_within",
    "csr_from_edges",
    "dijkstra",
    "dijkstra_many",
    "nearest_source",
]

_INF = math.inf


def csr_from_edges(
    n_nodes: int, tails: np.ndarray, heads: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build the CSR adjacency of a directed graph.

    Parameters
    ----------
    n_nodes : int
        Number of nodes ``n``; node indices run ``0 .. n - 1``.
    tails, heads : (m,) int64
        Tail and head node of each link (link ``a`` goes ``tails[a] -> heads[a]``).

    Returns
    -------
    indptr : (n + 1,) int64
        Out-links of node ``u`` occupy CSR slots ``indptr[u]:indptr[u + 1]``.
    adj_head : (m,) int64
        Head node of each CSR slot.
    adj_link : (m,) int64
        Link index of each CSR slot (links of one tail keep their input order).

    Examples
    --------
    >>> import numpy as np
    >>> indptr, head, link = csr_from_edges(3, np.array([1, 0, 0]), np.array([2, 1, 2]))
    >>> indptr.tolist(), head.tolist(), link.tolist()
    ([0, 2, 3, 3], [1, 2, 2], [1, 2, 0])
    """
    tails = np.asarray(tails, dtype=np.int64)
    heads = np.asarray(heads, dtype=np.int64)
    order = np.argsort(tails, kind="stable").astype(np.int64)
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(tails, minlength=n_nodes), out=indptr[1:])
    return indptr, np.ascontiguousarray(heads[order]), order


# --------------------------------------------------------------------------- heap
# A binary min-heap of (key, node) entries with lazy deletion: a node whose
# label improves is pushed again and its stale entries are skipped when popped
# (each link relaxes at most once, so the heap never holds more than
# ``m + number of sources`` entries).  Keys sit next to the nodes, so sifting
# reads contiguous memory.
@jit(inline="always")
def _push(heap, hkey, size, node, key):
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if hkey[parent] <= key:
            break
        heap[i] = heap[parent]
        hkey[i] = hkey[parent]
        i = parent
    heap[i] = node
    hkey[i] = key
    return size + 1


@jit(inline="always")
def _pop(heap, hkey, size):
    """Remove the smallest entry; returns its node and the new size."""
    top = heap[0]
    size -= 1
    if size > 0:
        node = heap[size]
        key = hkey[size]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and hkey[c + 1] < hkey[c]:
                c += 1
            if hkey[c] >= key:
                break
            heap[i] = heap[c]
            hkey[i] = hkey[c]
            i = c
        heap[i] = node
        hkey[i] = key
    return top, size


@jit
def _search(
    indptr,
    adj_head,
    adj_link,
    weight,
    no_through,
    sources,
    source_dist,
    limit,
    dist,
    pred_link,
    label,
    settled,
    touched,
    heap,
    hkey,
    state,
):
    """Dijkstra from ``sources`` into caller-owned work arrays.

    On entry ``dist`` must be ``inf``, ``pred_link`` and ``label`` ``-1`` and
    ``state`` 0 for every node, and ``heap``/``hkey`` must hold at least
    ``m + len(sources)`` entries; on exit the first ``n_touched`` entries of
    ``touched`` name every node whose entries changed (the caller resets only
    those), and ``settled[:n_settled]`` lists the settled nodes in order of
    increasing distance.  ``state`` is 1 for labelled and 2 for settled
    nodes.  ``label[v]`` is the index (into ``sources``) of the source whose
    path reaches ``v``.  Nodes farther than ``limit`` are never settled.  A
    node flagged in ``no_through`` is settled but not expanded unless it is a
    source.
    """
    size = 0
    n_touched = 0
    for s in range(sources.shape[0]):
        u = sources[s]
        d0 = source_dist[s]
        if d0 > limit or d0 >= dist[u]:
            continue
        if state[u] == 0:
            touched[n_touched] = u
            n_touched += 1
            state[u] = 1
        dist[u] = d0
        label[u] = s
        size = _push(heap, hkey, size, u, d0)
    n_settled = 0
    while size > 0:
        u, size = _pop(heap, hkey, size)
        if state[u] == 2:
            continue  # a stale entry: u was settled from a better one
        state[u] = 2
        settled[n_settled] = u
        n_settled += 1
        if no_through[u] and pred_link[u] >= 0:
            continue
        du = dist[u]
        lu = label[u]
        for slot in range(indptr[u], indptr[u + 1]):
            v = adj_head[slot]
            if state[v] == 2:
                continue
            a = adj_link[slot]
            nd = du + weight[a]
            if nd > limit or nd >= dist[v]:
                continue
            if state[v] == 0:
                touched[n_touched] = v
                n_touched += 1
                state[v] = 1
            dist[v] = nd
            pred_link[v] = a
            label[v] = lu
            size = _push(heap, hkey, size, v, nd)
    return n_settled, n_touched


@jit
def _workspace(n, capacity):
    """Work arrays of :func:`_search` for ``n`` nodes and a heap of ``capacity`` entries."""
    dist = np.full(n, _INF)
    pred = np.full(n, -1, dtype=np.int64)
    label = np.full(n, -1, dtype=np.int64)
    settled = np.zeros(n, dtype=np.int64)
    touched = np.zeros(n, dtype=np.int64)
    heap = np.zeros(capacity, dtype=np.int64)
    hkey = np.zeros(capacity)
    state = np.zeros(n, dtype=np.int8)
    return dist, pred, label, settled, touched, heap, hkey, state


@jit
def _reset(n_touched, touched, dist, pred, label, state):
    for k in range(n_touched):
        v = touched[k]
        dist[v] = _INF
        pred[v] = -1
        label[v] = -1
        state[v] = 0


# --------------------------------------------------------------------- public kernels
@jit
def dijkstra(indptr, adj_head, adj_link, weight, no_through, source, limit):
    """Shortest-path tree from one source (binary-heap Dijkstra).

    Parameters
    ----------
    indptr, adj_head, adj_link : int64 arrays
        CSR adjacency from :func:`csr_from_edges`.
    weight : (m,) float64
        Non-negative link weights (any unit, e.g. minutes).
    no_through : (n,) bool
        Nodes that paths may end at but never pass through (the source excepted).
    source : int
        Source node index.
    limit : float
        Search radius in weight units (``inf`` for a full search).

    Returns
    -------
    dist : (n,) float64
        Distance from the source (``inf`` beyond ``limit`` or unreachable).
    pred_link : (n,) int64
        Last link of the shortest path to each node (``-1`` at the source and
        for unreached nodes).
    order : (k,) int64
        Settled nodes by increasing distance (a topological order of the tree).
    """
    n = indptr.shape[0] - 1
    dist, pred, label, settled, touched, heap, hkey, state = _workspace(n, adj_head.shape[0] + 1)
    src = np.array([source], dtype=np.int64)
    sd = np.zeros(1)
    ns, _ = _search(
        indptr,
        adj_head,
        adj_link,
        weight,
        no_through,
        src,
        sd,
        limit,
        dist,
        pred,
        label,
        settled,
        touched,
        heap,
        hkey,
        state,
    )
    return dist, pred, settled[:ns].copy()


@pjit
def dijkstra_many(indptr, adj_head, adj_link, weight, no_through, sources, limit, n_chunks):
    """Distances from each of several sources (one Dijkstra per source, parallel).

    Parameters
    ----------
    indptr, adj_head, adj_link, weight, no_through, limit
        As in :func:`dijkstra`.
    sources : (k,) int64
        Source node indices.
    n_chunks : int
        Number of work chunks (``>= 1``), e.g. the number of threads.

    Returns
    -------
    (k, n) float64
        ``out[i, v]`` is the distance from ``sources[i]`` to ``v`` (``inf`` if
        unreachable within ``limit``).
    """
    n = indptr.shape[0] - 1
    k = sources.shape[0]
    out = np.full((k, n), _INF)
    for c in numba.prange(n_chunks):
        dist, pred, label, settled, touched, heap, hkey, state = _workspace(n, adj_head.shape[0] + 1)
        src = np.zeros(1, dtype=np.int64)
        sd = np.zeros(1)
        for i in range(c, k, n_chunks):
            src[0] = sources[i]
            ns, nt = _search(
                indptr,
                adj_head,
                adj_link,
                weight,
                no_through,
                src,
                sd,
                limit,
                dist,
                pred,
                label,
                settled,
                touched,
                heap,
                hkey,
                state,
            )
            for j in range(ns):
                v = settled[j]
                out[i, v] = dist[v]
            _reset(nt, touched, dist, pred, label, state)
    return out


@jit
def nearest_source(indptr, adj_head, adj_link, weight, sources, source_dist, limit):
    """Distance to, and index of, the nearest source from every node (multi-source Dijkstra).

    All sources enter the heap at once with their own start offsets, so one
    search gives every node its nearest source.  Run it on the *reversed*
    graph to get the time *from* every node *to* its nearest facility.

    Parameters
    ----------
    indptr, adj_head, adj_link, weight
        CSR graph and non-negative link weights (see :func:`dijkstra`).
    sources : (k,) int64
        Source nodes (repeats allowed; the smallest offset wins).
    source_dist : (k,) float64
        Start offset of each source (e.g. access time from the facility's door
        to the network), same unit as ``weight``.
    limit : float
        Search radius (``inf`` for no limit).

    Returns
    -------
    dist : (n,) float64
        Distance to the nearest source (``inf`` if none within ``limit``).
    nearest : (n,) int64
        Index into ``sources`` of that source (``-1`` if none).
    """
    n = indptr.shape[0] - 1
    capacity = adj_head.shape[0] + sources.shape[0]
    dist, pred, label, settled, touched, heap, hkey, state = _workspace(n, capacity)
    no_through = np.zeros(n, dtype=np.bool_)
    _search(
        indptr,
        adj_head,
        adj_link,
        weight,
        no_through,
        sources,
        source_dist,
        limit,
        dist,
        pred,
        label,
        settled,
        touched,
        heap,
        hkey,
        state,
    )
    return dist, label


@pjit
def count_within(
    indptr,
    adj_head,
    adj_link,
    weight,
    sources,
    source_dist,
    source_weight,
    thresholds,
    target_ptr,
    target_ids,
    target_dist,
    n_targets,
    n_chunks,
):
    """Sum of source weights reachable within each threshold, for every target.

    One search bounded by ``max(thresholds)`` runs from each source; a target
    attached to node ``v`` with offset ``target_dist[t]`` collects the weight
    of every source with ``dist(source -> v) + target_dist[t] <= threshold``.
    Run it on the reversed graph to count the services reachable *from* each
    building.  Sources are split into ``n_chunks`` fixed chunks, each with its
    own accumulator, reduced serially in chunk order (results do not depend on
    the number of threads).

    Parameters
    ----------
    indptr, adj_head, adj_link, weight
        CSR graph and non-negative link weights (see :func:`dijkstra`).
    sources : (k,) int64
        Source nodes.
    source_dist : (k,) float64
        Start offset of each source, weight units.
    source_weight : (k,) float64
        What each source counts for (1.0 to count facilities, jobs to sum jobs).
    thresholds : (q,) float64
        Travel-time thresholds, weight units.
    target_ptr : (n + 1,) int64
        CSR of targets by node: targets at node ``v`` are
        ``target_ids[target_ptr[v]:target_ptr[v + 1]]``.
    target_ids : (t,) int64
        Target indices ``0 .. n_targets - 1``.
    target_dist : (n_targets,) float64
        Offset from each target to its node (e.g. building door to street).
    n_targets : int
        Number of targets.
    n_chunks : int
        Number of work chunks (``>= 1``).

    Returns
    -------
    (n_targets, q) float64
        Summed source weights within each threshold.
    """
    n = indptr.shape[0] - 1
    k = sources.shape[0]
    q = thresholds.shape[0]
    limit = -_INF
    for j in range(q):
        limit = max(limit, thresholds[j])
    acc = np.zeros((n_chunks, n_targets, q))
    no_through = np.zeros(n, dtype=np.bool_)
    for c in numba.prange(n_chunks):
        dist, pred, label, settled, touched, heap, hkey, state = _workspace(n, adj_head.shape[0] + 1)
        src = np.zeros(1, dtype=np.int64)
        sd = np.zeros(1)
        for i in range(c, k, n_chunks):
            src[0] = sources[i]
            sd[0] = source_dist[i]
            w = source_weight[i]
            ns, nt = _search(
                indptr,
                adj_head,
                adj_link,
                weight,
                no_through,
                src,
                sd,
                limit,
                dist,
                pred,
                label,
                settled,
                touched,
                heap,
                hkey,
                state,
            )
            for jj in range(ns):
                v = settled[jj]
                dv = dist[v]
                for p in range(target_ptr[v], target_ptr[v + 1]):
                    t = target_ids[p]
                    total = dv + target_dist[t]
                    for j in range(q):
                        if total <= thresholds[j]:
                            acc[c, t, j] += w
            _reset(nt, touched, dist, pred, label, state)
    out = np.zeros((n_targets, q))
    for c in range(n_chunks):
        out += acc[c]
    return out


@pjit
def aon_load(indptr, adj_head, adj_link, tails, weight, no_through, origins, dest_nodes, demand, n_chunks):
    """All-or-nothing assignment: load each OD flow on its shortest path.

    Parallel over origins: origins are split into ``n_chunks`` fixed chunks,
    each loading into its own link-flow buffer; the buffers are added serially
    in chunk order, so the result does not depend on the number of threads.
    Each origin's tree is loaded in one backward pass over its settled nodes
    (node flows pushed onto the predecessor links), O(n) per origin.

    Parameters
    ----------
    indptr, adj_head, adj_link, weight, no_through
        As in :func:`dijkstra` (``weight``: current link costs).
    tails : (m,) int64
        Tail node of each link.
    origins : (r,) int64
        Origin nodes.
    dest_nodes : (z,) int64
        Destination nodes (columns of ``demand``).
    demand : (r, z) float64
        Flow from each origin to each destination (intrazonal entries should
        be zero).
    n_chunks : int
        Number of work chunks (``>= 1``).

    Returns
    -------
    flow : (m,) float64
        Link flows.
    sptt : (r,) float64
        ``sum_d demand[o, d] * dist(o, d)`` per origin (shortest-path travel time).
    unreachable : (r,) float64
        Demand per origin whose destination cannot be reached (not loaded).
    """
    n = indptr.shape[0] - 1
    m = tails.shape[0]
    r = origins.shape[0]
    z = dest_nodes.shape[0]
    acc = np.zeros((n_chunks, m))
    sptt = np.zeros(r)
    unreachable = np.zeros(r)
    for c in numba.prange(n_chunks):
        dist, pred, label, settled, touched, heap, hkey, state = _workspace(n, adj_head.shape[0] + 1)
        node_flow = np.zeros(n)
        src = np.zeros(1, dtype=np.int64)
        sd = np.zeros(1)
        for o in range(c, r, n_chunks):
            src[0] = origins[o]
            ns, nt = _search(
                indptr,
                adj_head,
                adj_link,
                weight,
                no_through,
                src,
                sd,
                _INF,
                dist,
                pred,
                label,
                settled,
                touched,
                heap,
                hkey,
                state,
            )
            s = 0.0
            lost = 0.0
            for d in range(z):
                f = demand[o, d]
                if f == 0.0:
                    continue
                v = dest_nodes[d]
                if dist[v] == _INF:
                    lost += f
                    continue
                node_flow[v] += f
                s += f * dist[v]
            sptt[o] = s
            unreachable[o] = lost
            for jj in range(ns - 1, -1, -1):
                v = settled[jj]
                f = node_flow[v]
                if f != 0.0:
                    a = pred[v]
                    if a >= 0:
                        acc[c, a] += f
                        node_flow[tails[a]] += f
                    node_flow[v] = 0.0
            _reset(nt, touched, dist, pred, label, state)
    flow = np.zeros(m)
    for c in range(n_chunks):
        flow += acc[c]
    return flow, sptt, unreachable
