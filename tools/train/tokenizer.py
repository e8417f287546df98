"""Byte-level BPE tokenizer with DeepSeek-V3's pre-tokenizer.

Pre-tokenization uses the exact regexes of the DeepSeek-V3/R1 tokenizer.json
(three Split steps with behavior "Isolated", then ByteLevel with
use_regex=false). The `regex` module (Debian: python3-regex) provides the
Unicode property classes (\\p{N}, \\p{L}, ...) that `re` lacks, so the split is
the general one, not an ASCII approximation.

Special/added tokens are matched first (longest match, left to right) and never
pass through the pre-tokenizer, as HF tokenizers does.
"""
import json

import regex

# Exact patterns from deepseek-ai/DeepSeek-R1 tokenizer.json, in order.
SPLIT_PATTERNS = [
    "\\p{N}{1,3}",
    "[一-龥぀-ゟ゠-ヿ]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
]
_COMPILED = [regex.compile(p) for p in SPLIT_PATTERNS]

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
PAD = "<｜▁pad▁｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
THINK = "<think>"
END_THINK = "</think>"
TOOL_TOKENS = [
    "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>",
    "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>",
    "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>",
    "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>",
    "<｜tool▁sep｜>",
]
# Tokens at the start of the vocab (ids 0, 1, 2), like R1.
HEAD_SPECIALS = [BOS, EOS, PAD]
# Added tokens at the end of the vocab, in R1's relative order.
TAIL_ADDED = [THINK, END_THINK, USER, ASSISTANT] + [
    TOOL_TOKENS[0], TOOL_TOKENS[1], TOOL_TOKENS[2], TOOL_TOKENS[3],
    TOOL_TOKENS[4], TOOL_TOKENS[5], TOOL_TOKENS[6], TOOL_TOKENS[7], TOOL_TOKENS[8],
]


def bytes_to_unicode():
    """GPT-2 / HF ByteLevel byte -> printable unicode char mapping."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs])), bs


BYTE2CHAR, BYTE_ORDER = bytes_to_unicode()
CHAR2BYTE = {c: b for b, c in BYTE2CHAR.items()}


def _split_isolated(pieces, rx):
    out = []
    for p in pieces:
        pos = 0
        for m in rx.finditer(p):
            s, e = m.span()
            if s > pos:
                out.append(p[pos:s])
            if e > s:
                out.append(p[s:e])
            pos = e
        if pos < len(p):
            out.append(p[pos:])
    return out


def pretokenize(text):
    """Split plain text (no special tokens) exactly as DeepSeek-V3's pre-tokenizer,
    returning byte-level-mapped pieces."""
    pieces = [text]
    for rx in _COMPILED:
        pieces = _split_isolated(pieces, rx)
    return ["".join(BYTE2CHAR[b] for b in p.encode("utf-8")) for p in pieces]


def split_specials(text, specials):
    """Split text into (is_special, str) segments, longest special first."""
    specials = sorted(specials, key=len, reverse=True)
    out = []
    buf_start = 0
    i = 0
    n = len(text)
    while i < n:
        hit = None
        for s in specials:
            if text.startswith(s, i):
                hit = s
                break
        if hit is None:
            i += 1
            continue
        if i > buf_start:
            out.append((False, text[buf_start:i]))
        out.append((True, hit))
        i += len(hit)
        buf_start = i
    if buf_start < n:
        out.append((False, text[buf_start:]))
    return out


def train_bpe(texts, vocab_size, forbid_digit_merges=True, verbose=False):
    """Train byte-level BPE merges. Digits are never merged (each digit stays its
    own token), which keeps column arithmetic visible to the model."""
    from collections import Counter
    n_fixed = len(HEAD_SPECIALS) + 256 + len(TAIL_ADDED)
    n_merges = vocab_size - n_fixed
    words = Counter()
    specials = HEAD_SPECIALS + TAIL_ADDED
    for t in texts:
        for is_sp, seg in split_specials(t, specials):
            if not is_sp:
                for p in pretokenize(seg):
                    words[p] += 1
    digit_chars = set("0123456789")
    wlist = [(list(w), c) for w, c in words.items()]
    merges = []
    for step in range(n_merges):
        pairs = Counter()
        for syms, c in wlist:
            for a, b in zip(syms, syms[1:]):
                if forbid_digit_merges and (set(a) & digit_chars or set(b) & digit_chars):
                    continue
                pairs[(a, b)] += c
        if not pairs:
            break
        # deterministic tie-break: highest count, then lexicographic
        best = max(pairs.items(), key=lambda kv: (kv[1], [-ord(ch) for ch in kv[0][0] + " " + kv[0][1]]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        a, b = best
        ab = a + b
        for syms, c in wlist:
            i = 0
            while i < len(syms) - 1:
                if syms[i] == a and syms[i + 1] == b:
                    syms[i:i + 2] = [ab]
                i += 1
        if verbose and step % 100 == 0:
            print("merge", step, best, pairs[best])
    return merges


class Tokenizer:
    def __init__(self, vocab, merges, added):
        self.vocab = vocab  # str -> id (model vocab)
        self.merges = merges
        self.ranks = {tuple(m): i for i, m in enumerate(merges)}
        self.added = added  # list of (content, id)
        self.added_map = {c: i for c, i in added}
        self.id2tok = {i: t for t, i in vocab.items()}
        for c, i in added:
            self.id2tok[i] = c
        self.cache = {}

    @property
    def size(self):
        return max(self.id2tok) + 1

    def _bpe(self, piece):
        if piece in self.cache:
            return self.cache[piece]
        syms = list(piece)
        while len(syms) > 1:
            best = None
            for i in range(len(syms) - 1):
                r = self.ranks.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        ids = [self.vocab[s] for s in syms]
        self.cache[piece] = ids
        return ids

    def encode(self, text):
        ids = []
        for is_sp, seg in split_specials(text, list(self.added_map)):
            if is_sp:
                ids.append(self.added_map[seg])
            else:
                for p in pretokenize(seg):
                    ids.extend(self._bpe(p))
        return ids

    def decode(self, ids):
        out = []
        buf = []
        for i in ids:
            t = self.id2tok[i]
            if t in self.added_map:
                if buf:
                    out.append(bytes(buf).decode("utf-8", errors="replace"))
                    buf = []
                out.append(t)
            else:
                buf.extend(CHAR2BYTE[c] for c in t)
        if buf:
            out.append(bytes(buf).decode("utf-8", errors="replace"))
        return "".join(out)

    @staticmethod
    def build(merges):
        vocab = {}
        for s in HEAD_SPECIALS:
            vocab[s] = len(vocab)
        for b in BYTE_ORDER:
            vocab[BYTE2CHAR[b]] = len(vocab)
        for a, b in merges:
            vocab[a + b] = len(vocab)
        added = [(s, vocab[s]) for s in HEAD_SPECIALS]
        nid = len(vocab)
        for s in TAIL_ADDED:
            added.append((s, nid))
            nid += 1
        return Tokenizer(vocab, [list(m) for m in merges], added)

    @staticmethod
    def load(path):
        t = json.load(open(path, encoding="utf-8"))
        merges = [m.split(" ") if isinstance(m, str) else m for m in t["model"]["merges"]]
        added = [(a["content"], a["id"]) for a in t["added_tokens"]]
        return Tokenizer(t["model"]["vocab"], merges, added)

    def to_hf_json(self):
        added_tokens = []
        for c, i in self.added:
            special = c in (BOS, EOS, PAD)
            added_tokens.append({
                "id": i, "content": c, "single_word": False, "lstrip": False,
                "rstrip": False, "normalized": not special, "special": special,
            })
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added_tokens,
            "normalizer": {"type": "Sequence", "normalizers": []},
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": False}
                    for p in SPLIT_PATTERNS
                ] + [{"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}],
            },
            "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None,
                "continuing_subword_prefix": None, "end_of_word_suffix": None,
                "fuse_unk": False, "byte_fallback": False,
                "vocab": self.vocab,
                "merges": [" ".join(m) for m in self.merges],
            },
        }
