#!/usr/bin/env python3
"""`dsinfer run` as scripts use it: --json, stdin prompts, thinking kept off a piped stdout.

With a model directory argument it checks behaviour on a random model (structure only); with
--default it asks the embedded default model the README's question and checks the answer.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOK = os.path.join(ROOT, "tests", "data", "tokenizer")
failures = 0


def check(ok, what, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else f"\n     {detail}"))
    failures += 0 if ok else 1


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def random_model_checks(dsinfer, tmp):
    model = os.path.join(tmp, "model")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "testmodel", "make_model.py"), "--preset", "v3-tiny",
                    "--set", "vocab_size=129280", "--dtype", "bf16", "--out", model], check=True, capture_output=True)
    shutil.copy(os.path.join(TOK, "deepseek-v3", "tokenizer.json"), model)
    shutil.copy(os.path.join(TOK, "deepseek-r1", "tokenizer_config.json"), model)
    r = run([dsinfer, "run", "-m", model, "-p", "hello", "-n", "12", "--json"])
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check(r.returncode == 0 and {"reasoning_content", "content", "usage", "timings"} <= j.keys(),
          "run --json prints one object with reasoning, answer, usage and timings", r.stdout + r.stderr)
    # R1's template opens <think>: a random model never closes it, so all text is reasoning.
    check(j.get("usage", {}).get("completion_tokens") == 12 and j.get("content") == "" and
          len(j.get("reasoning_content", "")) > 0, "output after an opened think block is reasoning", str(j))
    r2 = run([dsinfer, "run", "-m", model, "-p", "-", "-n", "12", "--json"], input="hello")
    check(r2.returncode == 0 and json.loads(r2.stdout)["reasoning_content"] == j.get("reasoning_content"),
          "-p - reads the prompt from stdin (same greedy output)", r2.stdout + r2.stderr)
    r3 = run([dsinfer, "run", "-m", model, "-p", "hello", "-n", "12"])
    check(r3.returncode == 0 and r3.stdout.strip() == "" and len(r3.stderr.strip()) > 0,
          "piped: thinking goes to stderr, stdout holds only the answer", repr(r3.stdout))
    r4 = run([dsinfer, "run", "-m", model, "-p", "hello", "-n", "12", "--hide-thinking"])
    check(r4.returncode == 0 and r4.stderr.strip() == "", "--hide-thinking shows no reasoning", repr(r4.stderr))
    r5 = run([dsinfer, "run", "-m", model, "-p", "hello", "-n", "5", "--raw", "--json"])
    j5 = json.loads(r5.stdout) if r5.returncode == 0 else {}
    check(r5.returncode == 0 and j5["usage"]["prompt_tokens"] <= 2 and j5["content"] != "",
          "--raw skips the chat template", r5.stdout + r5.stderr)
    r6 = run([dsinfer, "run", "-m", model, "-p", "x " * 5000, "-c", "256"])
    check(r6.returncode == 1 and "context" in r6.stderr, "a prompt longer than the context is a clear error",
          r6.stderr)


def default_model_checks(dsinfer):
    r = run([dsinfer, "run", "-p", "What is 347 + 589?", "--json"])
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check(r.returncode == 0 and "936" in j.get("content", ""), "the default model answers 936",
          r.stdout + r.stderr)
    check("carry" in j.get("reasoning_content", ""), "... after thinking it through", str(j))
    # inspect's RAM estimate counts what drafting with the MTP module keeps per token.
    r = run([dsinfer, "inspect", "--json", "--ctx", "1000", "--parallel", "2"])
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    mtp = j.get("mtp_modules", 0)
    # The shipped model's weights are BF16, so its cache is BF16 unless asked otherwise.
    check(j.get("kv_cache_type") == "bf16", "the default cache of a BF16 model is bf16", str(j.get("kv_cache_type")))
    want = 4 * j.get("hidden_size", 0) + mtp * j.get("kv_values_per_token_per_layer", 0) * 2 if mtp else 0
    check(r.returncode == 0 and mtp > 0 and j.get("mtp_bytes_per_token") == want
          and j.get("mtp_bytes_for_ctx") == want * 2000
          and j.get("peak_ram_bytes_estimate", 0) > j.get("weight_bytes", 0) + j.get("kv_bytes_for_ctx", 0)
          + want * 2000, "inspect counts the MTP drafting state", r.stdout + r.stderr)


def main():
    dsinfer = sys.argv[1]
    if "--default" in sys.argv:
        default_model_checks(dsinfer)
    else:
        with tempfile.TemporaryDirectory(prefix="dsinfer-run-") as tmp:
            random_model_checks(dsinfer, tmp)
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
