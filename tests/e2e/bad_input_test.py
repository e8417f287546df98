#!/usr/bin/env python3
"""Bad input to `dsinfer logits` / `inspect`: a clear message and exit code 1, never a crash.

Each case copies a generated model, damages one thing, runs the CLI and checks the exit
code (1, not a signal) and that stderr names the problem.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools", "testmodel")


def read_st(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_st(path, header, data):
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def edit_header(model, fn):
    p = os.path.join(model, "model.safetensors")
    h, d = read_st(p)
    fn(h)
    write_st(p, h, d)


def edit_config(model, fn):
    p = os.path.join(model, "config.json")
    with open(p) as f:
        c = json.load(f)
    fn(c)
    with open(p, "w") as f:
        json.dump(c, f)


def main():
    dsinfer = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory(prefix="dsinfer-bad-") as tmp:
        base = os.path.join(tmp, "base")
        subprocess.run([sys.executable, os.path.join(TOOLS, "make_model.py"), "--preset", "v3-tiny", "--out", base],
                       check=True, capture_output=True)

        def case(name, damage, expect, args=None):
            nonlocal failures
            model = os.path.join(tmp, name)
            shutil.copytree(base, model)
            damage(model)
            cmd = [dsinfer] + (args or ["logits", "-m", model, "--tokens", "1,2,3", "--out", os.path.join(tmp, "o.bin")])
            cmd = [c.replace("MODEL", model) for c in cmd]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            ok = r.returncode == 1 and expect in r.stderr
            print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {r.returncode}: {r.stderr.strip()[:200]}")
            if not ok:
                print(f"     expected exit 1 and a message containing: {expect!r}")
                failures += 1

        def drop(model):
            edit_header(model, lambda h: h.pop("model.layers.1.self_attn.kv_b_proj.weight"))

        case("missing_tensor", drop, "missing tensor 'model.layers.1.self_attn.kv_b_proj.weight'")

        def reshape(model):
            def fn(h):
                t = h["model.layers.0.self_attn.kv_a_proj_with_mqa.weight"]
                t["shape"] = [t["shape"][1], t["shape"][0]]
            edit_header(model, fn)

        case("wrong_shape", reshape, "self_attn.kv_a_proj_with_mqa.weight' has shape [64,40], expected [40,64]")

        def redtype(model):
            def fn(h):
                h["model.norm.weight"]["dtype"] = "I32"
            edit_header(model, fn)

        case("wrong_dtype", redtype, "tensor 'model.norm.weight' has dtype I32")

        def truncate(model):
            p = os.path.join(model, "model.safetensors")
            size = os.path.getsize(p)
            with open(p, "r+b") as f:
                f.truncate(size - 1000)

        case("truncated", truncate, "past the end of the data")

        def lie_offsets(model):
            def fn(h):
                h["model.norm.weight"]["data_offsets"] = [0, 10 ** 12]
            edit_header(model, fn)

        case("offsets_past_end", lie_offsets, "past the end")

        def garbage(model):
            with open(os.path.join(model, "model.safetensors"), "r+b") as f:
                f.seek(8)
                f.write(b"{{{{not json")

        case("malformed_header", garbage, "malformed safetensors header JSON")
        case("unknown_model_type", lambda m: edit_config(m, lambda c: c.update(model_type="llama")),
             "unsupported model_type 'llama'")
        case("bad_config_json", lambda m: open(os.path.join(m, "config.json"), "w").write("{"), "malformed JSON")
        case("token_out_of_range", lambda m: None, "token id 512 at position 1 is out of range [0, 512)",
             ["logits", "-m", "MODEL", "--tokens", "1,512", "--out", os.path.join(tmp, "o.bin")])
        case("negative_token", lambda m: None, "out of range",
             ["logits", "-m", "MODEL", "--tokens", "1,-5", "--out", os.path.join(tmp, "o.bin")])
        case("context_too_long", lambda m: edit_config(m, lambda c: c.update(max_position_embeddings=4)),
             "exceed the model's context of 4",
             ["logits", "-m", "MODEL", "--tokens", "1,2,3", "--gen", "5", "--out", os.path.join(tmp, "o.bin")])
        case("not_a_number", lambda m: None, "'x' is not an integer",
             ["logits", "-m", "MODEL", "--tokens", "1,x", "--out", os.path.join(tmp, "o.bin")])
        case("no_such_model", lambda m: None, "no such file or directory",
             ["inspect", "-m", os.path.join(tmp, "nope")])

        # A weight file truncated while a server has it mapped: a clear message and exit 1
        # (SIGBUS is caught), not "Bus error". The server first answers one request, so its
        # pages are in use, then the file loses its tensor data and another request comes.
        model = os.path.join(tmp, "truncated_while_serving")
        shutil.copytree(os.path.join(ROOT, "models", "tiny-r1"), model)
        import socket
        import time
        import urllib.request
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        srv = subprocess.Popen([dsinfer, "serve", "-m", model, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def ask():
            body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            return urllib.request.urlopen(req, timeout=30).read()

        try:
            for _ in range(100):
                try:
                    ask()
                    break
                except OSError:
                    time.sleep(0.1)
            os.truncate(os.path.join(model, "model.safetensors"), 4096)
            try:
                ask()
            except Exception:  # the connection drops when the server exits
                pass
            _, err = srv.communicate(timeout=60)
            ok = srv.returncode == 1 and "changed size while in use" in err
        except subprocess.TimeoutExpired:
            srv.kill()
            err, ok = "server still running after its weights were truncated", False
        print(f"{'ok  ' if ok else 'FAIL'} truncated_while_serving (exit {srv.returncode})")
        if not ok:
            print(err[-500:])
            failures += 1
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
