"""Plot the training loss curve (main and MTP loss) from runs/<name>/loss.jsonl.

Usage: /usr/bin/python3 tools/train/plot_loss.py --log tools/train/runs/tiny-r1/loss.jsonl --out models/tiny-r1/loss.png
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def smooth(xs, k=20):
    out, acc = [], []
    for x in xs:
        acc.append(x)
        if len(acc) > k:
            acc.pop(0)
        out.append(sum(acc) / len(acc))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    recs = [json.loads(l) for l in open(args.log)]
    steps = [r["step"] for r in recs]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(steps, [r["loss"] for r in recs], color="C0", alpha=0.25, lw=0.8)
    ax.plot(steps, smooth([r["loss"] for r in recs]), color="C0", label="main loss (next token)")
    ax.plot(steps, [r["mtp_loss"] for r in recs], color="C1", alpha=0.25, lw=0.8)
    ax.plot(steps, smooth([r["mtp_loss"] for r in recs]), color="C1", label="MTP loss (token after next)")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (assistant tokens)")
    ax.set_title("tiny-r1 training loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
