#!/usr/bin/env python3
"""The shipped model through dsinfer on held-out problems: greedy output identical to
PyTorch's (models/tiny-r1/eval/torch_greedy.jsonl, written by tools/train/eval_torch.py
--dump), with and without MTP speculative decoding, on every 8th problem (all families)."""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REF = os.path.join(ROOT, "models", "tiny-r1", "eval", "torch_greedy.jsonl")


def main():
    dsinfer = sys.argv[1]
    with open(REF, encoding="utf-8") as f:
        lines = f.readlines()[::8]
    failures = 0
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        f.writelines(lines)
        subset = f.name
    try:
        for spec in ("none", "mtp"):
            r = subprocess.run([dsinfer, "eval", "--heldout", subset, "--spec", spec, "--draft", "1", "--json"],
                               capture_output=True, text=True, timeout=600)
            j = json.loads(r.stdout) if r.returncode == 0 else {}
            same = j.get("identical_to_reference")
            ok = r.returncode == 0 and same == 1.0 and j.get("well_formed_think") == 1.0
            if spec == "mtp":
                ok = ok and j.get("mtp_acceptance", 0) > 0.9
            print(f"{'ok  ' if ok else 'FAIL'} --spec {spec}: {j.get('problems')} problems, identical to PyTorch "
                  f"{same}, accuracy {j.get('accuracy')}, MTP acceptance {j.get('mtp_acceptance')}")
            if not ok:
                print(r.stderr)
                failures += 1
    finally:
        os.unlink(subset)
    print(f"{2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
