"""Run a command, copy its stderr then its stdout to stdout, and end with `exit status: N`.

Lets a lit test check a tool's exact exit status together with its diagnostics:

    // RUN: python %S/../Inputs/exit-status.py pyflame-opt %s -p x | filecheck %s
    // CHECK: error: ...
    // CHECK: exit status: 1

Always exits 0 itself, so FileCheck decides.
"""

import subprocess
import sys

proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(proc.stderr)
sys.stdout.write(proc.stdout)
print(f"exit status: {proc.returncode}")
