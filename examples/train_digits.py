"""Train an MLP on scikit-learn's handwritten digits through the simulated wafer, then serve it.

    python examples/train_digits.py            # a few seconds: 30 epochs, ~98% test accuracy

The 8x8 digit images (1797 of them, bundled with scikit-learn: no download) go through a
64 -> 128 -> 10 MLP with ReLU, trained with Adam by `pf.training.Trainer`: every step (forward,
loss, backward, Adam update) is ONE program compiled once for the whole fit and run on the
simulator, batch after batch (the last, shorter batch of each epoch is padded and masked, not
recompiled). The test set is then served by `pf.serving.InferenceEngine` at one compiled batch
size. Deterministic: `pf.manual_seed` fixes the initial weights, a seeded numpy generator the
shuffling.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import pyflame as pf
from pyflame import nn, optim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args()
    start = time.perf_counter()

    pf.manual_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixels 0..16 -> 0..1
    y = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=0, stratify=y
    )

    shuffle = np.random.default_rng(0)

    def train_batches():  # a fresh shuffle every epoch (the trainer calls this once per epoch)
        order = shuffle.permutation(len(x_train))
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            yield x_train[idx], y_train[idx]

    test_batches = [
        (x_test[i : i + args.batch_size], y_test[i : i + args.batch_size])
        for i in range(0, len(x_test), args.batch_size)
    ]

    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    trainer = pf.training.Trainer(
        model=model,
        optimizer=optim.Adam(model.parameters(), lr=args.lr),
        loss_fn=nn.CrossEntropyLoss(),
        config=pf.training.TrainerConfig(
            max_epochs=args.epochs, metrics=("loss", "accuracy"), progress_bar=not args.no_progress
        ),
    )
    compiles = pf.cache_info().misses
    history = trainer.fit(train_batches, val_loader=test_batches)
    compiles = pf.cache_info().misses - compiles
    print(
        f"trained {args.epochs} epochs ({trainer.global_step} steps of {trainer.batch_size}) "
        f"with {compiles} compiled programs (train step + validation): "
        f"train accuracy {history['accuracy'][-1]:.4f}, "
        f"test accuracy {history['val_accuracy'][-1]:.4f}"
    )

    engine = pf.serving.InferenceEngine(model, max_batch_size=args.batch_size)
    engine.warmup(x_test[:1])
    logits = engine.infer(x_test)  # 360 rows: chunks of 64, the last one padded
    accuracy = float((logits.numpy().argmax(axis=1) == y_test).mean())
    stats = engine.stats
    print(
        f"served {stats.samples} test digits in {stats.runs} runs of batch "
        f"{engine.batch_size} ({stats.compiles} compile, {stats.mean_cycles:.0f} simulated "
        f"cycles per run): test accuracy {accuracy:.4f}"
    )
    print()
    print(pf.last_report().summary())
    print(f"\ntotal wall time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
