"""PyG peer of `autoglm::tasks::graph::bench_gin_epoch`: time training epochs of
the GIN paper's GIN-0 over a TU dataset (default PROTEINS, 1,113 graphs) in
mini-batches, with the same architecture and loop as autoglm:

* 4 GINConv layers (5 "layers" counting the input, as the paper), each MLP
  Linear -> BatchNorm1d -> ReLU -> Linear, hidden 64, eps = 0, then BatchNorm1d
  and ReLU after every layer;
* sum pooling of the input and of every layer, a Linear classifier on each,
  dropout 0.5 on each layer's scores, scores summed;
* Adam lr 0.01, cross-entropy, DataLoader(batch_size=32, shuffle=True);
* node features: one-hot node labels (TUDataset(use_node_attr=False)).

One epoch = one pass over all graphs: batching, forward, backward, optimiser
step. Two warm-up epochs, then EPOCHS timed; prints the median as JSON.

Usage: python pyg_gin_proteins.py DATA_ROOT [--name PROTEINS] [--epochs 10] [--threads 2] [--batch-size 32]
DATA_ROOT holds <NAME>/<NAME>_A.txt ... (the TU text files, e.g. ../shared/datasets).
PyG wants <root>/<NAME>/raw/<NAME>_*.txt and writes <root>/<NAME>/processed, so
the raw files are symlinked into a temporary root (as shared/peer/pyg_baseline.py does).
"""
import argparse, json, os, statistics, sys, tempfile, time

import torch
import torch.nn.functional as F
from torch.nn import BatchNorm1d, Linear, ReLU, Sequential
from torch_geometric.datasets import TUDataset
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GINConv, global_add_pool


WARMUP = 2


class GIN(torch.nn.Module):
    def __init__(self, in_dim, hidden, out_dim, num_layers=5, dropout=0.5):
        super().__init__()
        self.convs = torch.nn.ModuleList()
        self.norms = torch.nn.ModuleList()
        dims = [in_dim]
        for _ in range(num_layers - 1):
            mlp = Sequential(Linear(dims[-1], hidden), BatchNorm1d(hidden), ReLU(), Linear(hidden, hidden))
            self.convs.append(GINConv(mlp, train_eps=False))
            self.norms.append(BatchNorm1d(hidden))
            dims.append(hidden)
        self.heads = torch.nn.ModuleList([Linear(d, out_dim) for d in dims])
        self.dropout = dropout

    def forward(self, x, edge_index, batch):
        hs = [x]
        h = x
        for conv, bn in zip(self.convs, self.norms):
            h = F.relu(bn(conv(h, edge_index)))
            hs.append(h)
        score = 0
        for lin, h in zip(self.heads, hs):
            score = score + F.dropout(lin(global_add_pool(h, batch)), self.dropout, self.training)
        return score


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--name", default="PROTEINS")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    src = os.path.abspath(os.path.join(a.root, a.name))
    if not os.path.isfile(os.path.join(src, f"{a.name}_A.txt")):
        sys.exit(f"{src}/{a.name}_A.txt not found")
    work = tempfile.mkdtemp()
    os.makedirs(os.path.join(work, a.name))
    os.symlink(src, os.path.join(work, a.name, "raw"))
    ds = TUDataset(work, a.name)
    print(ds, ds.num_features, "features", ds.num_classes, "classes", file=sys.stderr)
    model = GIN(ds.num_features, 64, ds.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader(ds, batch_size=a.batch_size, shuffle=True)
    times = []
    model.train()
    for ep in range(a.epochs + WARMUP):
        t0 = time.perf_counter()
        for data in loader:
            opt.zero_grad()
            out = model(data.x, data.edge_index, data.batch)
            loss = F.cross_entropy(out, data.y)
            loss.backward()
            opt.step()
        if ep >= WARMUP:
            times.append((time.perf_counter() - t0) * 1e3)
    res = {
        "impl": "pyg",
        "dataset": a.name,
        "num_graphs": len(ds),
        "batch_size": a.batch_size,
        "threads": a.threads,
        "ms_per_epoch": round(statistics.median(times), 2),
        "ms_min": round(min(times), 2),
        "epoch_ms": [round(t, 2) for t in times],
        "torch": torch.__version__,
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
