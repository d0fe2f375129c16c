"""Run a tool on each `// -----` chunk of a file on its own, keeping the chunk's line numbers.

    // RUN: python %S/../Inputs/each-chunk.py %s pyflame-opt | filecheck %s
    // CHECK: chunk 1
    // CHECK: invalid.mlir:[[# @LINE + 3]]:3: error: ...
    // CHECK: exit status: 1

Each chunk is written, padded with blank lines so that its ops keep their lines, to a file of the
same name in a temporary directory; the tool gets that file as its first argument. Prints
`chunk N`, the tool's stderr, its stdout and `exit status: N` for each chunk, so that one lit
file checks many located diagnostics (xDSL stops at a module's first error). Always exits 0.

pyflame-opt's `main()` runs in this process, once per chunk, instead of a process per chunk (a
start-up imports xDSL and PyFlame again); it returns the same exit status and prints the same
streams. Other tools run as processes.
"""

import contextlib
import io
import os
import subprocess
import sys
import tempfile

#: console scripts whose main() runs in this process: script name -> module
IN_PROCESS = {"pyflame-opt": "pyflame.tools.pyflame_opt"}


def run(argv: list[str]) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one run of the tool."""
    module = IN_PROCESS.get(os.path.basename(argv[0]))
    if module is None:
        proc = subprocess.run(argv, capture_output=True, text=True)
        return proc.returncode, proc.stdout, proc.stderr
    import importlib

    main = importlib.import_module(module).main
    out, err = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    sys.argv = argv  # as the console script sees it
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(argv[1:])
    finally:
        sys.argv = saved_argv
    return status, out.getvalue(), err.getvalue()


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
        status, stdout, stderr = run([command[0], copy, *command[1:]])
        print(f"chunk {n}")
        sys.stdout.write(stderr)
        sys.stdout.write(stdout)
        print(f"exit status: {status}")
