"""PyG peer of `autoglm bench --sampled`: GraphSAGE training on neighbour-sampled
mini-batches of a seeded random graph (the pyg_synth.py generator).

Usage: python pyg_sampled.py NUM_NODES AVG_DEGREE DIM THREADS [--fanouts 15,10]
       [--batch-size 1024] [--batches 100] [--blocks DIR]

Prints one JSON line per comparison made:
- "neighbor_loader": PyG's NeighborLoader + SAGEConv, sampling included
  (needs pyg-lib or torch-sparse; skipped with a message when neither imports);
- "our_blocks": SAGEConv on the blocks our sampler wrote to DIR (node ids,
  seeds first, and the sampled edges), features gathered by index as
  NeighborLoader does; the sampling itself is not timed on this side;
- "our_blocks_trimmed": the same with PyG's own `trim_to_layer` before every
  layer (the blocks' nodes and edges are ordered by hop, as NeighborLoader's
  are), as PyG's BasicGNN does when given the per-hop counts.
Both: 2-layer SAGEConv (mean), hidden 128, 10 classes, ReLU, Adam lr 0.01,
loss on the seed nodes, 3 untimed warm-up batches, then BATCHES timed ones.
"""
import argparse, json, os, resource, sys, time
import numpy as np, torch, torch.nn.functional as F
from torch_geometric.nn import SAGEConv
from torch_geometric.utils import to_undirected

ap = argparse.ArgumentParser()
ap.add_argument("nodes", type=int); ap.add_argument("deg", type=int); ap.add_argument("dim", type=int); ap.add_argument("threads", type=int)
ap.add_argument("--fanouts", default="15,10"); ap.add_argument("--batch-size", type=int, default=1024)
ap.add_argument("--batches", type=int, default=100); ap.add_argument("--blocks")
a = ap.parse_args()
torch.set_num_threads(a.threads)
fanouts = [int(f) for f in a.fanouts.split(",")]
WARMUP = 3
g = torch.Generator().manual_seed(0)
n = a.nodes
x = torch.randn(n, a.dim, generator=g); y = torch.randint(0, 10, (n,), generator=g)


def model():
    torch.manual_seed(0)
    convs = [SAGEConv(a.dim, 128)] + [SAGEConv(128, 128) for _ in fanouts[1:-1]] + [SAGEConv(128, 10)]
    params = [p for c in convs for p in c.parameters()]
    return convs, torch.optim.Adam(params, lr=0.01)


def step(convs, opt, xb, ei, seeds, yb):
    opt.zero_grad()
    h = xb
    for i, c in enumerate(convs):
        h = c(h, ei)
        if i + 1 < len(convs):
            h = F.relu(h)
    loss = F.cross_entropy(h[:seeds], yb)
    loss.backward(); opt.step()


def step_trimmed(convs, opt, xb, ei, seeds, yb, nodes_per_hop, edges_per_hop):
    from torch_geometric.utils import trim_to_layer
    opt.zero_grad()
    h = xb
    for i, c in enumerate(convs):
        h, ei, _ = trim_to_layer(i, nodes_per_hop, edges_per_hop, h, ei)
        h = c(h, ei)
        if i + 1 < len(convs):
            h = F.relu(h)
    loss = F.cross_entropy(h[:seeds], yb)
    loss.backward(); opt.step()


def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def report(what, ms, extra):
    print(json.dumps({"what": what, "ms_per_batch": ms, "batches": a.batches, "threads": a.threads, "peak_rss_bytes": peak(), **extra}), flush=True)


try:
    from torch_geometric.loader import NeighborLoader
    from torch_geometric.data import Data
    e = n * a.deg // 2
    ei = to_undirected(torch.stack([torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)]), num_nodes=n)
    loader = NeighborLoader(Data(x=x, y=y, edge_index=ei, num_nodes=n), num_neighbors=fanouts, batch_size=a.batch_size, shuffle=True)
    convs, opt = model()
    it = iter(loader)
    for _ in range(WARMUP):
        b = next(it); step(convs, opt, b.x, b.edge_index, b.batch_size, b.y[:b.batch_size])
    t = time.perf_counter()
    for _ in range(a.batches):
        b = next(it); step(convs, opt, b.x, b.edge_index, b.batch_size, b.y[:b.batch_size])
    report("NeighborLoader + SAGEConv (sampling included)", (time.perf_counter() - t) * 1e3 / a.batches, {"mode": "neighbor_loader", "edges": int(ei.shape[1])})
    del ei, loader
except (ImportError, RuntimeError) as err:
    print(f"NeighborLoader unavailable ({type(err).__name__}: {str(err).splitlines()[0][:160]}); timing on our blocks only", file=sys.stderr)

if a.blocks:
    blocks = []
    k = 0
    while os.path.exists(os.path.join(a.blocks, f"block_{k}.bin")):
        raw = np.fromfile(os.path.join(a.blocks, f"block_{k}.bin"), dtype="<u4")
        nn_, ns, ne, hops = (int(v) for v in raw[:4])
        # cumulative nodes within h hops (h = 0..hops), then edges per hop
        at = [int(v) for v in raw[4:5 + hops]]
        eph = [int(v) for v in raw[5 + hops:5 + 2 * hops]]
        nph = [at[0]] + [at[h] - at[h - 1] for h in range(1, hops + 1)]
        o = 5 + 2 * hops
        ids = torch.from_numpy(raw[o:o + nn_].astype(np.int64))
        src = torch.from_numpy(raw[o + nn_:o + nn_ + ne].astype(np.int64)); dst = torch.from_numpy(raw[o + nn_ + ne:o + nn_ + 2 * ne].astype(np.int64))
        blocks.append((ids, ns, torch.stack([src, dst]), nph, eph))
        k += 1
    if len(blocks) < 1:
        sys.exit(f"no blocks in {a.blocks}")
    convs, opt = model()
    for ids, ns, ei, _, _ in blocks[:WARMUP]:
        step(convs, opt, x[ids], ei, ns, y[ids[:ns]])
    t = time.perf_counter()
    for ids, ns, ei, _, _ in blocks:
        step(convs, opt, x[ids], ei, ns, y[ids[:ns]])
    report("SAGEConv on our sampled blocks (gather + fwd + bwd + Adam; sampling not timed)", (time.perf_counter() - t) * 1e3 / len(blocks), {"mode": "our_blocks", "blocks": len(blocks)})
    convs, opt = model()
    for ids, ns, ei, nph, eph in blocks[:WARMUP]:
        step_trimmed(convs, opt, x[ids], ei, ns, y[ids[:ns]], nph, eph)
    t = time.perf_counter()
    for ids, ns, ei, nph, eph in blocks:
        step_trimmed(convs, opt, x[ids], ei, ns, y[ids[:ns]], nph, eph)
    report("the same with PyG's trim_to_layer before every layer", (time.perf_counter() - t) * 1e3 / len(blocks), {"mode": "our_blocks_trimmed", "blocks": len(blocks)})
