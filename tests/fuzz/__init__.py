"""Differential fuzzer: random PyFlame programs against a float64 numpy reference.

    from tests.fuzz.programs import OPS, random_program
    program = random_program(np.random.default_rng([0, 17]))
    outcome = program.run()            # builds, evaluates (twice), compares
    print(program.describe())          # a pytest function reproducing the program

`python -m tests.fuzz.run --programs 1000 --seed 0 --jobs 2` is the long run;
`tests/unit/test_fuzz.py` runs a fast seeded slice in the default test command.
"""
