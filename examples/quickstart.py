"""PyFlame in one screen: build a lazy graph, compile it for the simulated wafer, run it.

python examples/quickstart.py
"""

import numpy as np

import pyflame as pf

pf.manual_seed(0)
layout = pf.MeshLayout.grid(4, 4)  # 16 PEs, each holding one tile of every tensor

a_np = np.random.default_rng(0).standard_normal((64, 48)).astype(np.float32)
a = pf.from_numpy(a_np, layout=layout)  # data from the host
b = pf.randn([48, 32], layout=layout)  # generated on the PEs
z = pf.relu(a @ b).sum(dim=0)  # nothing has run yet: z is a graph node
print("lazy:", repr(z))

pf.eval(z)  # compile flame -> mesh -> pe, then simulate every PE and router
report = pf.last_report()  # simulated cycles, utilisation, SRAM, link traffic of that run
print("z =", z)
expected = np.maximum(a_np @ b.numpy(), 0).sum(axis=0)  # b's values: same seed, same numbers
print("matches numpy:", np.allclose(z.numpy(), expected, rtol=1e-4, atol=1e-4))
print()
print(report.summary())
print()
print("The same program at the flame level (pf.ir(z, stage='pe') shows the PE programs):")
print(pf.ir(pf.relu(a @ b).sum(dim=0), stage="flame"))
