"""Route-switch ordering (allocate-colors' barriers) on the MLP 784-256-10 training step: how many
channels switch rules, how many barriers order them, and the simulated cycles.

    python benchmarks/barriers.py
"""

from __future__ import annotations

from mlp_step import build_step  # the same step, built once (benchmarks/ is on sys.path)

import pyflame as pf


def main() -> None:
    loss = build_step()
    text = pf.ir(loss, stage="pe")
    barrier = next(
        (line.split("=")[0].strip() for line in text.splitlines() if '"barrier"' in line), None
    )
    # a barrier ends with the multicast back from its last PE: one pe.send of the word
    sends = text.count(f"pe.send {barrier} ") if barrier else 0
    pf.eval(loss)
    print(
        f"pe IR: {len(text.splitlines())} lines, {text.count('pe.route ')} pe.route ops, "
        f"{text.count('pe.routes [')} pe.routes ops (exchange phases)"
    )
    print(f"barriers: {sends // 3 if barrier else 0}")
    print(f"simulated cycles: {pf.last_report().cycles:,}")


if __name__ == "__main__":
    main()
