"""How hard is an SHD-format data set for a linear classifier on time-summed spike counts?

Trains a multinomial logistic regression (scikit-learn, L2, standardised log counts)
on ``train.h5`` and reports its accuracy on ``test.h5``. Also reports the same on
counts summed per time quarter (a little temporal information), and, as evidence
that the temporal information makes the task learnable, a small non-spiking GRU
(140 pooled channels x 100 frames of 10 ms, 128 units, max over time; torch, one
thread) trained for ``--gru-epochs`` epochs. The recurrent SNN's number comes from
the training stage, not from here.

    .venv/bin/python benchmarks/data_difficulty.py [DIR]    # default: the cached default data set
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def features(path: Path, n_bins: int, pool: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts per channel (pooled by ``pool``) in ``n_bins`` equal time bins over 1 s, log1p."""
    from spikedeploy.data.shd import BinningConfig, load_spikes, bin_spikes

    s = load_spikes(path)
    cfg = BinningConfig(n_steps=n_bins, duration=1.0, pool=pool)
    x = np.stack([bin_spikes(*s.sample(i), cfg).reshape(-1) for i in range(len(s))]).astype(np.float64)
    return np.log1p(x), np.asarray(s.labels), (np.asarray(s.speakers) if s.speakers is not None else None)


def linear_accuracy(xtr, ytr, xte, yte, c: float = 1.0) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    clf.fit(xtr, ytr)
    return float(clf.score(xtr, ytr)), float(clf.score(xte, yte))


def gru_reference(folder: Path, epochs: int, seed: int = 0) -> dict:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    t0 = time.perf_counter()

    def load(name):
        from spikedeploy.data.shd import BinningConfig, bin_spikes, load_spikes

        s = load_spikes(folder / name)
        cfg = BinningConfig(n_steps=100, duration=1.0, pool=5)
        x = np.stack([bin_spikes(*s.sample(i), cfg) for i in range(len(s))]).astype(np.float32)
        return torch.tensor(np.log1p(x)), torch.tensor(np.asarray(s.labels, dtype=np.int64))

    xtr, ytr = load("train.h5")
    xte, yte = load("test.h5")
    mean, std = xtr.mean((0, 1)), xtr.std((0, 1)) + 1e-3
    xtr, xte = (xtr - mean) / std, (xte - mean) / std

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = torch.nn.Dropout(0.2)
            self.gru = torch.nn.GRU(xtr.shape[2], 128, batch_first=True)
            self.out = torch.nn.Linear(128, int(ytr.max()) + 1)

        def forward(self, x):
            h, _ = self.gru(self.drop(x))
            return self.out(h.max(dim=1).values)

    net = Net()
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    accs = []
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(ytr))
        for i in range(0, len(ytr), 64):
            b = perm[i:i + 64]
            loss = torch.nn.functional.cross_entropy(net(xtr[b]), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            accs.append(float((net(xte).argmax(1) == yte).float().mean()))
    return {"epochs": epochs, "test_acc_last": accs[-1], "test_acc_best": max(accs), "per_epoch": accs,
            "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", type=Path, default=None,
                    help="folder with train.h5 and test.h5 (default: the cached default data set)")
    ap.add_argument("--c", type=float, nargs="+", default=[0.01, 0.1, 1.0],
                    help="inverse L2 strengths to try; the best TEST accuracy is reported (an upper bound)")
    ap.add_argument("--gru-epochs", type=int, default=20, help="epochs of the GRU reference (0: skip it)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        pass
    if args.dir is None:
        from spikedeploy.paths import default_data_dir
        args.dir = default_data_dir()
    out = {"dir": str(args.dir)}
    for name, n_bins in (("summed", 1), ("4 time bins", 4)):
        t0 = time.perf_counter()
        xtr, ytr, _ = features(args.dir / "train.h5", n_bins, pool=1 if n_bins == 1 else 5)
        xte, yte, _ = features(args.dir / "test.h5", n_bins, pool=1 if n_bins == 1 else 5)
        res = {c: linear_accuracy(xtr, ytr, xte, yte, c) for c in args.c}
        best = max(res, key=lambda c: res[c][1])
        out[name] = {"features": xtr.shape[1], "train_samples": len(ytr), "test_samples": len(yte),
                     "per_C": {str(c): {"train_acc": a, "test_acc": b} for c, (a, b) in res.items()},
                     "best_C": best, "test_acc": res[best][1], "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{name:>12}: {xtr.shape[1]} features, {len(ytr)} train / {len(yte)} test; "
              + ", ".join(f"C={c}: train {a:.3f} test {b:.3f}" for c, (a, b) in res.items()))
    print(f"linear classifier on time-summed counts: test accuracy {out['summed']['test_acc']:.3f} "
          f"(chance {1 / 20:.3f})")
    if args.gru_epochs > 0:
        out["gru"] = gru_reference(args.dir, args.gru_epochs)
        print(f"GRU reference (non-spiking, temporal): test accuracy {out['gru']['test_acc_last']:.3f} after "
              f"{args.gru_epochs} epochs (best epoch {out['gru']['test_acc_best']:.3f}), "
              f"{out['gru']['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
