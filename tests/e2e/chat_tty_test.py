#!/usr/bin/env python3
"""`dsinfer chat` driven through a real terminal (tmux), as a person would use it.

Covers streaming, Ctrl-C stopping a reply without leaving, slash commands and line history.
The model is random (DeepSeek's real vocabulary and tokenizer, R1's chat template), so its
replies are gibberish: the checks are about the terminal behaviour, not the words.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOK = os.path.join(ROOT, "tests", "data", "tokenizer")


def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check).stdout


def screen(name):
    return tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", name)


def wait_for(name, pred, what, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        s = screen(name)
        if pred(s):
            return s
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; screen:\n{screen(name)}")


def main():
    dsinfer = sys.argv[1]
    if shutil.which("tmux") is None:
        print("tmux is not installed (scripts/install-deps.sh installs it)")
        return 1
    with tempfile.TemporaryDirectory(prefix="dsinfer-chat-") as tmp:
        model = os.path.join(tmp, "model")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "testmodel", "make_model.py"), "--preset",
                        "v3-tiny", "--set", "vocab_size=129280", "--dtype", "bf16", "--out", model],
                       check=True, capture_output=True)
        shutil.copy(os.path.join(TOK, "deepseek-v3", "tokenizer.json"), model)
        shutil.copy(os.path.join(TOK, "deepseek-r1", "tokenizer_config.json"), model)
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        name = f"dsinfer-chat-{os.getpid()}"
        cmd = f"HOME={home} {dsinfer} chat -m {model} -n 100000 -t 1"
        tmux("new-session", "-d", "-s", name, "-x", "200", "-y", "50", cmd)
        try:
            wait_for(name, lambda s: ">>> " in s, "the prompt")
            # Slash commands.
            tmux("send-keys", "-t", name, "/help", "Enter")
            wait_for(name, lambda s: "/system TEXT" in s, "/help")
            tmux("send-keys", "-t", name, "/set temperature 0.7", "Enter")
            wait_for(name, lambda s: "(temperature = 0.7)" in s, "/set")
            tmux("send-keys", "-t", name, "/show", "Enter")
            wait_for(name, lambda s: "temperature 0.7" in s, "/show")
            tmux("send-keys", "-t", name, "/frobnicate", "Enter")
            wait_for(name, lambda s: "unknown command /frobnicate" in s, "an unknown command")
            # A reply streams (the random model never stops by itself), Ctrl-C stops it
            # and the prompt comes back.
            tmux("send-keys", "-t", name, "Hello there", "Enter")
            first = wait_for(name, lambda s: len(s.split("Hello there", 1)[-1].strip()) > 200, "streamed text")
            time.sleep(0.5)
            later = screen(name)
            assert len(later) > len(first) or later != first, "the reply did not keep streaming"
            tmux("send-keys", "-t", name, "C-c")
            wait_for(name, lambda s: "[stopped]" in s and s.rstrip().endswith(">>>"), "Ctrl-C to stop the reply")
            # Still in the chat: history brings back the last line (Up arrow).
            tmux("send-keys", "-t", name, "Up")
            wait_for(name, lambda s: s.rstrip().endswith(">>> Hello there"), "history recall")
            tmux("send-keys", "-t", name, "C-u")  # clear the recalled line
            # Save the conversation: the user turn and the stopped reply.
            saved = os.path.join(tmp, "conv.json")
            tmux("send-keys", "-t", name, f"/save {saved}", "Enter")
            wait_for(name, lambda s: "saved 2 messages" in s, "/save")
            with open(saved) as f:
                msgs = json.load(f)
            assert [m["role"] for m in msgs] == ["user", "assistant"], msgs
            assert msgs[0]["content"] == "Hello there"
            tmux("send-keys", "-t", name, "/clear", "Enter")
            wait_for(name, lambda s: "(conversation cleared)" in s, "/clear")
            tmux("send-keys", "-t", name, f"/load {saved}", "Enter")
            wait_for(name, lambda s: "(loaded 2 messages)" in s, "/load")
            tmux("send-keys", "-t", name, "/exit", "Enter")
            end = time.time() + 20
            while time.time() < end and tmux("has-session", "-t", name, check=False) == "" and \
                    subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode == 0:
                time.sleep(0.2)
            assert subprocess.run(["tmux", "has-session", "-t", name], capture_output=True).returncode != 0, \
                "chat did not exit on /exit"
            hist = os.path.join(home, ".dsinfer_history")
            assert os.path.exists(hist) and "Hello there" in open(hist).read(), "history file not written"
        except AssertionError as e:
            print(f"FAIL: {e}")
            tmux("kill-session", "-t", name, check=False)
            return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
