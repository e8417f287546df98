"""Synthetic reasoning tasks rendered in DeepSeek-R1's chat format.

Every example is (family, question, reasoning, answer). The assistant turn is
    <think>\n{reasoning}\n</think>\n\nThe answer is {answer}.<｜end▁of▁sentence｜>
and the prompt is whatever the shipped R1 chat template renders for one user
message with add_generation_prompt=True, i.e.
    <｜begin▁of▁sentence｜><｜User｜>{question}<｜Assistant｜><think>\n
so training text == inference prompt + completion, byte for byte.

Arithmetic traces work right to left, one column per line, with explicit
carries/borrows and the digits collected so far, so every step is a small
local computation.
"""
import json
import os
import random

import jinja2

HERE = os.path.dirname(os.path.abspath(__file__))
R1_TOKENIZER_CONFIG = "/work/shared/tokenizers/deepseek-r1/tokenizer_config.json"

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"

FAMILIES = ["add", "sub", "mul", "compare", "count", "word"]

WORDS = """apple banana cherry grape lemon mango orange peach pear plum melon berry
strawberry raspberry blueberry coconut tomato potato carrot onion garlic pepper
bread butter cheese cookie pizza pasta salad soup sugar honey water coffee
table chair window door house garden river mountain forest ocean island desert
rabbit turtle monkey tiger zebra giraffe elephant dolphin penguin parrot kitten puppy
school teacher student pencil paper letter number answer question problem
summer winter spring autumn morning evening yesterday tomorrow today
happy little yellow purple silver golden simple middle bottle button rocket planet
computer keyboard program engine machine battery library mirror balloon blanket
dragon castle kingdom village market street bridge tunnel harbor airport
mississippi banana committee balloon coffee assessment bookkeeper success
tennessee hippopotamus parallel occurrence referee possession address
accommodate millennium vacuum cinnamon broccoli spaghetti pineapple watermelon
umbrella calendar tomorrow necessary embarrass pepperoni lollipop bubble puzzle
""".split()
WORDS = sorted(set(WORDS))

NAMES = ["Tom", "Anna", "Ben", "Mia", "Sam", "Lily", "Max", "Emma", "Leo", "Zoe", "Ali", "Nina"]
ITEMS = ["apples", "books", "coins", "cards", "stickers", "marbles", "pens", "stamps", "shells", "cookies"]
CONTAINERS = ["box", "bag", "jar", "basket", "crate"]


def digits(n):
    return [int(c) for c in str(n)]


def add_trace(a, b):
    da, db = digits(a)[::-1], digits(b)[::-1]
    n = max(len(da), len(db))
    carry = 0
    got = ""
    lines = [f"Add {a}+{b} from the right."]
    for i in range(n):
        x = da[i] if i < len(da) else 0
        y = db[i] if i < len(db) else 0
        s = x + y + carry
        got = str(s % 10) + got
        lines.append(f"{x}+{y}+{carry}={s}, carry {s // 10}, so far {got}.")
        carry = s // 10
    if carry:
        got = str(carry) + got
        lines.append(f"Write the last carry {carry}, so far {got}.")
    lines.append(f"So {a}+{b}={a + b}.")
    return "\n".join(lines)


def sub_trace(a, b):
    """a >= b."""
    da, db = digits(a)[::-1], digits(b)[::-1]
    borrow = 0
    got = ""
    lines = [f"Subtract {a}-{b} from the right."]
    for i in range(len(da)):
        x = da[i]
        y = db[i] if i < len(db) else 0
        # Two-operand steps only: first take the borrow off the top digit,
        # then compare with the bottom digit (a single-digit comparison).
        t = x - borrow
        if t < y:
            r = t + 10 - y
            lines.append(f"{x}-{borrow}={t}, {t}<{y}, {t + 10}-{y}={r}, borrow 1, so far {str(r) + got}.")
            borrow = 1
        else:
            r = t - y
            lines.append(f"{x}-{borrow}={t}, {t}-{y}={r}, borrow 0, so far {str(r) + got}.")
            borrow = 0
        got = str(r) + got
    stripped = got.lstrip("0") or "0"
    if stripped != got:
        lines.append(f"Drop the leading zeros: {got} is {stripped}.")
    lines.append(f"So {a}-{b}={a - b}.")
    return "\n".join(lines)


def mul_trace(a, b):
    """b is one digit."""
    da = digits(a)[::-1]
    carry = 0
    got = ""
    lines = [f"Multiply {a}*{b} from the right."]
    for x in da:
        s = x * b + carry
        got = str(s % 10) + got
        lines.append(f"{x}*{b}+{carry}={s}, carry {s // 10}, so far {got}.")
        carry = s // 10
    if carry:
        got = str(carry) + got
        lines.append(f"Write the last carry {carry}, so far {got}.")
    stripped = got.lstrip("0") or "0"
    if stripped != got:
        lines.append(f"Drop the leading zeros: {got} is {stripped}.")
    lines.append(f"So {a}*{b}={a * b}.")
    return "\n".join(lines)


def compare_trace(a, b):
    sa, sb = str(a), str(b)
    lines = [f"{a} has {len(sa)} digits and {b} has {len(sb)} digits."]
    if len(sa) != len(sb):
        big = a if len(sa) > len(sb) else b
        lines.append(f"More digits means larger, so {big} is larger.")
        return "\n".join(lines), str(big)
    lines.append("Same length, so compare digits from the left.")
    for x, y in zip(sa, sb):
        if x == y:
            lines.append(f"{x} = {y}, go on.")
        else:
            rel = ">" if x > y else "<"
            big = a if x > y else b
            lines.append(f"{x} {rel} {y}, so {big} is larger.")
            return "\n".join(lines), str(big)
    lines.append("All digits are equal, so they are equal.")
    return "\n".join(lines), "equal"


def count_trace(word, letter):
    lines = [f"Spell {word} and count the letter {letter}."]
    c = 0
    steps = []
    for ch in word:
        if ch == letter:
            c += 1
            steps.append(f"{ch} yes {c}")
        else:
            steps.append(f"{ch} no {c}")
    lines.append(", ".join(steps) + ".")
    lines.append(f"The letter {letter} appears {c} times in {word}.")
    return "\n".join(lines), str(c)


def rand_ndigit(rng, n):
    if n == 1:
        return rng.randint(0, 9)
    return rng.randint(10 ** (n - 1), 10 ** n - 1)


def make_add(rng, nd=None):
    na = nd or rng.choice([1, 2, 2, 3, 3, 3, 3, 4])
    nb = nd or rng.choice([1, 2, 2, 3, 3, 3, 3, 4])
    if nd is None and rng.random() < 0.5:
        nb = na
    a, b = rand_ndigit(rng, na), rand_ndigit(rng, nb)
    q = rng.choice(["What is {a} + {b}?", "Compute {a} + {b}.", "What is the sum of {a} and {b}?"]).format(a=a, b=b)
    return q, add_trace(a, b), str(a + b)


def make_sub(rng, nd=None):
    na = nd or rng.choice([1, 2, 2, 3, 3, 3, 3, 4])
    nb = nd or rng.choice(list(range(1, na + 1)))
    if nd is None and rng.random() < 0.5:
        nb = na
    a, b = rand_ndigit(rng, na), rand_ndigit(rng, nb)
    if a < b:
        a, b = b, a
    q = rng.choice(["What is {a} - {b}?", "Compute {a} - {b}.", "What is {a} minus {b}?"]).format(a=a, b=b)
    return q, sub_trace(a, b), str(a - b)


def make_mul(rng, nd=None):
    na = nd or rng.choice([1, 2, 2, 3, 3])
    a, b = rand_ndigit(rng, na), rng.randint(2, 9)
    q = rng.choice(["What is {a} * {b}?", "Compute {a} * {b}.", "What is {a} times {b}?"]).format(a=a, b=b)
    return q, mul_trace(a, b), str(a * b)


def make_compare(rng, nd=None):
    na = nd or rng.choice([1, 2, 3, 3, 4])
    nb = na if rng.random() < 0.7 else rng.choice([1, 2, 3, 4])
    a, b = rand_ndigit(rng, na), rand_ndigit(rng, nb)
    if rng.random() < 0.3 and na == nb and na > 1:
        # share a prefix so the comparison has to go deeper
        s = list(str(a))
        k = rng.randint(1, na - 1)
        b = int("".join(s[:k]) + "".join(str(rng.randint(0, 9)) for _ in range(na - k)))
    if a == b:
        b = a + 1
    q = rng.choice(["Which is larger, {a} or {b}?", "Which number is bigger: {a} or {b}?"]).format(a=a, b=b)
    t, ans = compare_trace(a, b)
    return q, t, ans


def make_count(rng, nd=None):
    w = rng.choice(WORDS)
    letter = rng.choice(w) if rng.random() < 0.8 else rng.choice("abcdefghijklmnopqrstuvwxyz")
    q = rng.choice(['How many times does the letter {l} appear in "{w}"?',
                    'Count the letter {l} in the word "{w}".']).format(l=letter, w=w)
    t, ans = count_trace(w, letter)
    return q, t, ans


def make_word(rng, nd=None):
    kind = rng.choice(["add", "sub", "mul"])
    name = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    if kind == "add":
        a, b = rand_ndigit(rng, rng.choice([2, 3])), rand_ndigit(rng, rng.choice([2, 3]))
        q = f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?"
        t = f"{name} starts with {a} and gets {b} more, so we add.\n" + add_trace(a, b)
        ans = a + b
    elif kind == "sub":
        a, b = rand_ndigit(rng, 3), rand_ndigit(rng, rng.choice([2, 3]))
        if a < b:
            a, b = b, a
        q = f"{name} has {a} {item} and gives away {b}. How many {item} are left?"
        t = f"{name} starts with {a} and gives away {b}, so we subtract.\n" + sub_trace(a, b)
        ans = a - b
    else:
        c = rng.choice(CONTAINERS)
        a, b = rand_ndigit(rng, rng.choice([2, 3])), rng.randint(2, 9)
        q = f"Each {c} holds {b} {item}. How many {item} are in {a} {c}s?"
        t = f"There are {a} {c}s with {b} {item} each, so we multiply.\n" + mul_trace(a, b)
        ans = a * b
    return q, t, str(ans)


MAKERS = {"add": make_add, "sub": make_sub, "mul": make_mul, "compare": make_compare,
          "count": make_count, "word": make_word}
# Training mixture (weights): arithmetic dominates.
MIX = {"add": 0.25, "sub": 0.31, "mul": 0.14, "compare": 0.10, "count": 0.10, "word": 0.10}


def completion_text(reasoning, answer):
    return f"{reasoning}\n</think>\n\nThe answer is {answer}.{EOS}"


_template = None


def chat_template():
    global _template
    if _template is None:
        cfg = json.load(open(R1_TOKENIZER_CONFIG, encoding="utf-8"))
        env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
        _template = (cfg["chat_template"], env.from_string(cfg["chat_template"]))
    return _template


def render_prompt(question):
    """What the R1 chat template renders for one user turn with
    add_generation_prompt=True (HF renders with trim_blocks/lstrip_blocks)."""
    _, tpl = chat_template()
    return tpl.render(messages=[{"role": "user", "content": question}],
                      add_generation_prompt=True, bos_token=BOS, eos_token=EOS)


def heldout_set(n_per_family=None, seed=1234):
    """Deterministic held-out problems. add/sub are 3-digit by 3-digit."""
    n_per_family = n_per_family or {"add": 200, "sub": 200, "mul": 100, "compare": 100,
                                    "count": 100, "word": 100}
    rng = random.Random(seed)
    out = []
    seen = set()
    for fam in FAMILIES:
        k = 0
        while k < n_per_family[fam]:
            nd = 3 if fam in ("add", "sub", "mul") else None
            q, t, a = MAKERS[fam](rng, nd)
            if q in seen:
                continue
            seen.add(q)
            out.append({"family": fam, "question": q, "answer": a,
                        "completion": completion_text(t, a)})
            k += 1
    return out


def training_stream(seed, exclude):
    """Infinite stream of (family, prompt, completion) never hitting `exclude`."""
    rng = random.Random(seed)
    fams = list(MIX)
    weights = [MIX[f] for f in fams]
    while True:
        fam = rng.choices(fams, weights)[0]
        q, t, a = MAKERS[fam](rng)
        if q in exclude:
            continue
        yield fam, render_prompt(q), completion_text(t, a)


if __name__ == "__main__":
    rng = random.Random(0)
    for fam in FAMILIES:
        q, t, a = MAKERS[fam](rng, 3 if fam in ("add", "sub", "mul") else None)
        print(repr(render_prompt(q) + completion_text(t, a)))
        print(render_prompt(q) + completion_text(t, a))
        print("-----")
