"""Differential fuzzer: random PyFlame programs against a float64 numpy reference.

    from tests.fuzz.programs import OPS, random_program
    program = random_program(np.random.default_rng([0, 17]))
    outcome = program.run()            # builds, evaluates (twice), compares
    print(program.describe())          # a pytest function reproducing the program

Beyond forward values, tests/fuzz/modes.py checks gradients against torch.autograd ("grad"),
programs rebuilt with other data and constants against the compile cache ("rebuild") and two
threads at once ("threads"); `program_for(seed, i, mode="mixed")` picks the mode by index.

`python -m tests.fuzz.run --programs 2000 --seed 0 --jobs 1` is the long run (all modes);
`tests/unit/test_fuzz.py` runs a fast seeded slice of each mode in the default test command.
tests/fuzz/sweeps.py holds targeted sweeps of single features the random programs do not reach
(item assignment, fused chains of mixed dtypes, forced matmul and collective algorithms):
`python -m tests.fuzz.sweeps setitem --seed 1 --cases 500`.
"""
