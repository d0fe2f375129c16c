"""Run a tool on each `// -----` chunk of a file on its own, keeping the chunk's line numbers.

    // RUN: python %S/../Inputs/each-chunk.py %s pyflame-opt | filecheck %s
    // CHECK: chunk 1
    // CHECK: invalid.mlir:[[# @LINE + 3]]:3: error: ...
    // CHECK: exit status: 1

Each chunk is written, padded with blank lines so that its ops keep their lines, to a file of the
same name in a temporary directory; the tool gets that file as its first argument. Prints
`chunk N`, the tool's stderr, its stdout and `exit status: N` for each chunk, so that one lit
file checks many located diagnostics (xDSL stops at a module's first error). Always exits 0.
"""

import os
import subprocess
import sys
import tempfile

path, command = sys.argv[1], sys.argv[2:]
with open(path) as f:
    chunks = f.read().split("// -----")
line = 0
with tempfile.TemporaryDirectory() as tmp:
    copy = os.path.join(tmp, os.path.basename(path))
    for n, chunk in enumerate(chunks, 1):
        with open(copy, "w") as f:
            f.write("\n" * line + chunk)
        line += chunk.count("\n")
        proc = subprocess.run([command[0], copy, *command[1:]], capture_output=True, text=True)
        print(f"chunk {n}")
        sys.stdout.write(proc.stderr)
        sys.stdout.write(proc.stdout)
        print(f"exit status: {proc.returncode}")
