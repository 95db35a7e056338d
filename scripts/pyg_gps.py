#!/usr/bin/env python3
"""PyG peer benchmark for GPSConv (GraphGPS layer): training epoch time.

Prints ONE JSON line per configuration to stdout (progress goes to stderr).

Usage
-----
    ~/pyg/bin/python scripts/pyg_gps.py synth NUM_NODES AVG_DEGREE DIM THREADS [--epochs 5]
    ~/pyg/bin/python scripts/pyg_gps.py proteins DATA_ROOT THREADS [--epochs 3]

(install: python3 -m venv ~/pyg && ~/pyg/bin/pip install torch torch_geometric scipy;
written against torch 2.15 / torch_geometric 2.8.1, float32, CPU).

What it measures
----------------
synth (config "gps_performer_synth"): full-batch node classification on the
  seeded random graph of ``../shared/peer/pyg_synth.py`` (copied exactly:
  Generator seeded 0, NUM_NODES*AVG_DEGREE//2 uniform random pairs made
  undirected with to_undirected, x ~ randn(NUM_NODES, DIM), y ~ randint(0, 10)).
  Model (parameters drawn after torch.manual_seed(0)):
      Linear(DIM, 128)
      2 x GPSConv(128, conv=TransformerConv(128, 32, heads=4), heads=4,
                  attn_type='performer', dropout=0, norm='batch_norm')
      Linear(128, 10)
  with no activation between the blocks (GPSConv ends in its own MLP + norm3).
  The whole graph is one graph: GPSConv is called with batch=None, so
  to_dense_batch returns x.unsqueeze(0) with an all-True mask (a [1, N, 128]
  tensor, global attention over all N nodes) and BatchNorm runs over all nodes.
  PerformerAttention as GPSConv builds it (only channels and heads are
  passed): head_channels = 64 (the default, NOT channels/heads), so
  q, k, v: Linear(128, 4*64, bias=False), attn_out: Linear(256, 128, bias=True);
  random features m = int(64 * ln 64) = 266 per head, one fixed [266, 64]
  orthogonal projection (QR blocks, no row rescaling) shared by all heads and
  not redrawn during training; kernel phi(u) = ReLU(u @ P^T) + 0.001 applied to
  q and k without any 1/sqrt(d) or d^-1/4 scaling; output
  D^-1 (phi(Q) (phi(K)^T V)) with D = phi(Q) (phi(K)^T 1).
  Loss: cross entropy over all nodes; Adam lr 0.01.
  One epoch = zero_grad + forward + backward + Adam step (full batch).
  2 warm-up epochs untimed, then EPOCHS timed; epoch_ms is their median.

proteins (config "gps_multihead_proteins"): graph classification on PROTEINS
  read from DATA_ROOT/PROTEINS (raw TU text files, loaded as in
  scripts/pyg_gin_proteins.py: symlinked into a temp root, TUDataset with
  use_node_attr=False, so node features are the one-hot node labels, 3 dims).
  DataLoader(batch_size=32, shuffle=True), torch.manual_seed(0). Model:
      Linear(3, 64)
      2 x GPSConv(64, conv=TransformerConv(64, 16, heads=4), heads=4,
                  attn_type='multihead', dropout=0, norm='batch_norm')
      global_add_pool, Linear(64, 2)
  GPSConv gets the mini-batch's ``batch`` vector, so to_dense_batch pads each
  batch to [32, max_nodes, 64] and torch MultiheadAttention masks the padding
  (key_padding_mask); BatchNorm runs over all nodes of the batch.
  Loss: cross entropy; Adam lr 0.01.  One epoch = one shuffled pass over all
  1,113 graphs (collation, forward, backward, step for each batch).
  1 warm-up epoch untimed, then EPOCHS timed; epoch_ms is their median.

Fields: peer, config, num_params (trainable parameters; the performer's
projection matrix and BatchNorm running stats are buffers, not counted),
epoch_ms (median), epoch_ms_all, peak_rss_bytes (getrusage ru_maxrss of this
process after training, in bytes: includes the data and model),
peak_rss_before_train_bytes, threads, widths/heads, torch versions.
The machine is shared and noisy: compare ratios measured in the same run.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
import torch_geometric
from torch.nn import Linear
from torch_geometric.nn import GPSConv, TransformerConv, global_add_pool


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class GPS(torch.nn.Module):
    def __init__(self, in_dim, hidden, out_dim, conv_heads, attn_heads,
                 attn_type, num_layers=2):
        super().__init__()
        assert hidden % conv_heads == 0
        self.lin_in = Linear(in_dim, hidden)
        self.layers = torch.nn.ModuleList([
            GPSConv(hidden,
                    TransformerConv(hidden, hidden // conv_heads, heads=conv_heads),
                    heads=attn_heads, dropout=0.0, attn_type=attn_type,
                    attn_kwargs={"dropout": 0.0})
            for _ in range(num_layers)
        ])
        self.lin_out = Linear(hidden, out_dim)

    def forward(self, x, edge_index, batch=None, pool=False):
        h = self.lin_in(x)
        for layer in self.layers:
            h = layer(h, edge_index, batch)
        if pool:
            h = global_add_pool(h, batch)
        return self.lin_out(h)


def num_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def performer_settings(model):
    attn = model.layers[0].attn
    fa = attn.fast_attn
    return {
        "heads": attn.heads,
        "head_channels": attn.head_channels,
        "inner_channels": attn.heads * attn.head_channels,
        "num_random_features": fa.num_rows,
        "projection_shape": list(fa.projection_matrix.shape),
        "kernel": f"{fa.kernel}(x @ P^T) + 0.001",
        "qkv_bias": attn.q.bias is not None,
        "attn_out_bias": attn.attn_out.bias is not None,
        "projection_redrawn": False,
    }


def versions():
    return {"torch": torch.__version__, "torch_geometric": torch_geometric.__version__}


def synth(a):
    from torch_geometric.utils import to_undirected
    n, deg, f, th = a.num_nodes, a.avg_degree, a.dim, a.threads
    torch.set_num_threads(th)
    # --- exactly as ../shared/peer/pyg_synth.py ---
    g = torch.Generator().manual_seed(0)
    e = n * deg // 2
    ei = to_undirected(torch.stack([torch.randint(0, n, (e,), generator=g),
                                    torch.randint(0, n, (e,), generator=g)]),
                       num_nodes=n)
    x = torch.randn(n, f, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    # ---
    torch.manual_seed(0)
    hidden, conv_heads, attn_heads = 128, 4, 4
    model = GPS(f, hidden, 10, conv_heads, attn_heads, "performer")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    rss0 = peak_rss_bytes()
    warmup, ts = 2, []
    for i in range(warmup + a.epochs):
        t = time.perf_counter()
        opt.zero_grad()
        out = model(x, ei)  # batch=None: one graph
        loss = F.cross_entropy(out, y)
        loss.backward()
        opt.step()
        dt = (time.perf_counter() - t) * 1e3
        print(f"epoch {i} {dt:.1f} ms loss {loss.item():.4f}", file=sys.stderr, flush=True)
        if i >= warmup:
            ts.append(dt)
    res = {
        "peer": "pyg",
        "config": "gps_performer_synth",
        "num_nodes": n, "num_edges": int(ei.shape[1]), "avg_degree": deg, "dim": f,
        "hidden": hidden, "num_classes": 10, "num_layers": 2,
        "conv": "TransformerConv", "conv_heads": conv_heads,
        "conv_out_channels": hidden // conv_heads,
        "attn_type": "performer", "attn_heads": attn_heads,
        "performer": performer_settings(model),
        "batch": None,
        "num_params": num_params(model),
        "epoch_ms": round(statistics.median(ts), 1),
        "epoch_ms_all": [round(t, 1) for t in ts],
        "warmup_epochs": warmup,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_before_train_bytes": rss0,
        "threads": th,
        **versions(),
    }
    print(json.dumps(res), flush=True)


def load_tu(root, name):
    """TUDataset from DATA_ROOT/NAME/NAME_*.txt (as scripts/pyg_gin_proteins.py)."""
    from torch_geometric.datasets import TUDataset
    src = os.path.abspath(os.path.join(root, name))
    if not os.path.isfile(os.path.join(src, f"{name}_A.txt")):
        sys.exit(f"{src}/{name}_A.txt not found")
    work = tempfile.mkdtemp()
    os.makedirs(os.path.join(work, name))
    os.symlink(src, os.path.join(work, name, "raw"))
    return TUDataset(work, name)  # use_node_attr=False: one-hot node labels


def proteins(a):
    from torch_geometric.loader import DataLoader
    th = a.threads
    torch.set_num_threads(th)
    torch.manual_seed(0)
    ds = load_tu(a.root, "PROTEINS")
    print(ds, ds.num_features, "features", ds.num_classes, "classes", file=sys.stderr)
    hidden, conv_heads, attn_heads, batch_size = 64, 4, 4, 32
    model = GPS(ds.num_features, hidden, ds.num_classes, conv_heads, attn_heads,
                "multihead")
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True)
    model.train()
    rss0 = peak_rss_bytes()
    warmup, ts = 1, []
    for ep in range(warmup + a.epochs):
        t = time.perf_counter()
        total = 0.0
        for data in loader:
            opt.zero_grad()
            out = model(data.x, data.edge_index, data.batch, pool=True)
            loss = F.cross_entropy(out, data.y)
            loss.backward()
            opt.step()
            total += loss.item() * data.num_graphs
        dt = (time.perf_counter() - t) * 1e3
        print(f"epoch {ep} {dt:.1f} ms mean loss {total / len(ds):.4f}",
              file=sys.stderr, flush=True)
        if ep >= warmup:
            ts.append(dt)
    res = {
        "peer": "pyg",
        "config": "gps_multihead_proteins",
        "dataset": "PROTEINS", "num_graphs": len(ds), "batch_size": batch_size,
        "in_dim": ds.num_features, "hidden": hidden, "num_classes": ds.num_classes,
        "num_layers": 2, "conv": "TransformerConv", "conv_heads": conv_heads,
        "conv_out_channels": hidden // conv_heads,
        "attn_type": "multihead", "attn_heads": attn_heads,
        "pool": "add",
        "num_params": num_params(model),
        "epoch_ms": round(statistics.median(ts), 1),
        "epoch_ms_all": [round(t, 1) for t in ts],
        "warmup_epochs": warmup,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_before_train_bytes": rss0,
        "threads": th,
        **versions(),
    }
    print(json.dumps(res), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("synth")
    s.add_argument("num_nodes", type=int)
    s.add_argument("avg_degree", type=int)
    s.add_argument("dim", type=int)
    s.add_argument("threads", type=int)
    s.add_argument("--epochs", type=int, default=5)
    p = sub.add_parser("proteins")
    p.add_argument("root")
    p.add_argument("threads", type=int)
    p.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args()
    if a.mode == "synth":
        synth(a)
    else:
        proteins(a)


if __name__ == "__main__":
    main()
