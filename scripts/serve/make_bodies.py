#!/usr/bin/env python3
"""Request bodies for the load test, one JSON object per line.

  make_bodies.py node N_NODES COUNT OUT        {"nodes": [...]}: 16 random node ids each
  make_bodies.py graph TU_DIR NAME IN_DIM COUNT OUT
      {"graphs": [g]}: the dataset's own graphs (edges both ways, node
      labels one-hot in the first columns, the node attributes after them
      when IN_DIM has room), walking the dataset in order.
"""
import json, random, sys
from collections import defaultdict

def node(n, count, out):
    rng = random.Random(0)
    with open(out, "w") as f:
        for _ in range(count):
            f.write(json.dumps({"nodes": [rng.randrange(n) for _ in range(16)]}) + "\n")

def graph(tu, name, in_dim, count, out):
    p = f"{tu}/{name}/{name}_"
    gid = [int(l) - 1 for l in open(p + "graph_indicator.txt")]
    labels = [int(l) for l in open(p + "node_labels.txt")]
    try:
        attrs = [[float(v) for v in l.split(",")] for l in open(p + "node_attributes.txt")]
    except FileNotFoundError:
        attrs = [[] for _ in gid]
    lmin = min(labels)
    nlab = max(labels) - lmin + 1
    first = {}
    for i, g in enumerate(gid):
        first.setdefault(g, i)
    members = defaultdict(list)
    for i, g in enumerate(gid):
        members[g].append(i)
    edges = defaultdict(list)
    for l in open(p + "A.txt"):
        s, t = (int(v) - 1 for v in l.split(","))
        g = gid[s]
        edges[g].append([s - first[g], t - first[g]])
    graphs = sorted(members)
    with open(out, "w") as f:
        for k in range(count):
            g = graphs[k % len(graphs)]
            feats = []
            for i in members[g]:
                row = [0.0] * in_dim
                if labels[i] - lmin < in_dim:
                    row[labels[i] - lmin] = 1.0
                for j, a in enumerate(attrs[i]):
                    if nlab + j < in_dim:
                        row[nlab + j] = a
                feats.append(row)
            f.write(json.dumps({"graphs": [{"num_nodes": len(members[g]), "edges": edges[g], "features": feats}]}) + "\n")

if __name__ == "__main__":
    if sys.argv[1] == "node":
        node(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        graph(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
