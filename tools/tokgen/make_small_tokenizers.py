#!/usr/bin/python3
"""Writes small tokenizer.json files under tests/data/tokenizer/small/ that use the
pre-tokenizers, normalizers, added-token flags and model options of other model families
(Qwen2 / R1-Distill-Qwen, Llama-3 / R1-Distill-Llama, GPT-2, SentencePiece-style BPE with
byte fallback), built from the first merges of DeepSeek-V3's BPE so that they stay small.
Golden ids for them come from tools/tokgen/encode_js.mjs (HF tokenizers' JS port), so the
files use only what that port implements like the Rust original: Split behaviours other than
Isolated and Removed, `invert` and `single_word` are tested by hand in the C++ tests.

Run from the repository root: /usr/bin/python3 tools/tokgen/make_small_tokenizers.py
"""
import json
import os

DATA = os.path.join('tests', 'data', 'tokenizer')
OUT = os.path.join(DATA, 'small')
N_MERGES = 6000

QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_level_base():
    with open(os.path.join(DATA, 'deepseek-v3', 'tokenizer.json'), encoding='utf-8') as f:
        ds = json.load(f)
    merges = ds['model']['merges'][:N_MERGES]
    # Single bytes as GPT-2's byte-to-unicode map spells them.
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab = {}
    for c in sorted(cs):
        vocab[chr(c)] = len(vocab)
    kept = []
    for m in merges:
        a, b = m.split(' ') if isinstance(m, str) else m
        if a in vocab and b in vocab:
            kept.append(a + ' ' + b)
            if a + b not in vocab:
                vocab[a + b] = len(vocab)
    return vocab, kept


def added(id_, content, special=True, normalized=False, lstrip=False, rstrip=False,
          single_word=False):
    return {'id': id_, 'content': content, 'single_word': single_word, 'lstrip': lstrip,
            'rstrip': rstrip, 'normalized': normalized, 'special': special}


def tokenizer(vocab, merges, pre, normalizer=None, decoder=None, added_tokens=(),
              post=None, **model_opts):
    model = {'type': 'BPE', 'dropout': None, 'unk_token': None,
             'continuing_subword_prefix': None, 'end_of_word_suffix': None, 'fuse_unk': False,
             'byte_fallback': False, 'vocab': vocab, 'merges': merges}
    model.update(model_opts)
    return {'version': '1.0', 'truncation': None, 'padding': None,
            'added_tokens': list(added_tokens), 'normalizer': normalizer, 'pre_tokenizer': pre,
            'post_processor': post, 'decoder': decoder or {'type': 'ByteLevel',
                                                           'add_prefix_space': True,
                                                           'trim_offsets': True,
                                                           'use_regex': True},
            'model': model}


def split(regex, behavior='Isolated', invert=False):
    return {'type': 'Split', 'pattern': {'Regex': regex}, 'behavior': behavior, 'invert': invert}


BYTE_LEVEL = {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True,
              'use_regex': False}


def sentencepiece_style():
    """A Llama-2-like BPE: ▁ for spaces, byte fallback, unk fused."""
    vocab = {'<unk>': 0, '<s>': 1, '</s>': 2}
    for b in range(256):
        vocab['<0x%02X>' % b] = len(vocab)
    for c in [chr(c) for c in range(0x21, 0x7F)] + ['▁', 'é', 'ü', '日', '本']:
        vocab.setdefault(c, len(vocab))
    base, merges = byte_level_base()
    kept = []
    for m in merges:
        a, b = [x.replace('Ġ', '▁') for x in m.split(' ')]
        ok = all(ch in vocab for ch in a + b) and all(0x21 <= ord(ch) < 0x7F or ch == '▁'
                                                     for ch in a + b)
        if ok and a in vocab and b in vocab:
            kept.append(a + ' ' + b)
            vocab.setdefault(a + b, len(vocab))
    return tokenizer(
        vocab, kept, None,
        normalizer={'type': 'Sequence', 'normalizers': [
            {'type': 'Prepend', 'prepend': '▁'},
            {'type': 'Replace', 'pattern': {'String': ' '}, 'content': '▁'}]},
        decoder={'type': 'Sequence', 'decoders': [
            {'type': 'Replace', 'pattern': {'String': '▁'}, 'content': ' '},
            {'type': 'ByteFallback'}, {'type': 'Fuse'},
            {'type': 'Strip', 'content': ' ', 'start': 1, 'stop': 0}]},
        added_tokens=[added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
        post={'type': 'TemplateProcessing',
              'single': [{'SpecialToken': {'id': '<s>', 'type_id': 0}},
                         {'Sequence': {'id': 'A', 'type_id': 0}}],
              'pair': [{'Sequence': {'id': 'A', 'type_id': 0}},
                       {'Sequence': {'id': 'B', 'type_id': 1}}],
              'special_tokens': {'<s>': {'id': '<s>', 'ids': [1], 'tokens': ['<s>']}}},
        unk_token='<unk>', byte_fallback=True, fuse_unk=True)


def random_unicode_strings(n):
    """Random strings over code points assigned in Unicode 14.0 (the version both PCRE2 10.42
    and this Python use), weighted towards the classes the split patterns care about:
    letters, marks, numbers, punctuation, symbols, every kind of white space, controls."""
    import random
    import unicodedata
    rng = random.Random(20240601)
    pools = {}
    for cp in range(0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        cat = unicodedata.category(chr(cp))
        if cat in ('Cn', 'Co', 'Cs'):
            continue
        pools.setdefault(cat[0], []).append(cp)
    spaces = [0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2007, 0x200A,
              0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF, 0x180E, 0x200B]
    ascii_ = [c for c in range(0x20, 0x7F)]
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(1, 40)):
            r = rng.random()
            if r < 0.25:
                cp = rng.choice(ascii_)
            elif r < 0.40:
                cp = rng.choice(spaces)
            else:
                cp = rng.choice(pools[rng.choice(sorted(pools))])
            chars.append(chr(cp))
        out.append(''.join(chars))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    vocab, merges = byte_level_base()
    n = len(vocab)
    files = {
        'qwen2': tokenizer(
            vocab, merges, {'type': 'Sequence', 'pretokenizers': [split(QWEN2_REGEX), BYTE_LEVEL]},
            normalizer={'type': 'NFC'},
            added_tokens=[added(n, '<|endoftext|>'), added(n + 1, '<|im_start|>'),
                          added(n + 2, '<|im_end|>'),
                          added(n + 3, '<tool_call>', special=False, normalized=True)]),
        'llama3': tokenizer(
            vocab, merges, {'type': 'Sequence', 'pretokenizers': [split(LLAMA3_REGEX), BYTE_LEVEL]},
            added_tokens=[added(n, '<|begin_of_text|>'), added(n + 1, '<|eot_id|>'),
                          added(n + 2, '<|start_header_id|>'), added(n + 3, '<|end_header_id|>')],
            post={'type': 'Sequence', 'processors': [
                {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False,
                 'use_regex': True},
                {'type': 'TemplateProcessing',
                 'single': [{'SpecialToken': {'id': '<|begin_of_text|>', 'type_id': 0}},
                            {'Sequence': {'id': 'A', 'type_id': 0}}],
                 'pair': [{'Sequence': {'id': 'A', 'type_id': 0}},
                          {'Sequence': {'id': 'B', 'type_id': 1}}],
                 'special_tokens': {'<|begin_of_text|>': {
                     'id': '<|begin_of_text|>', 'ids': [n], 'tokens': ['<|begin_of_text|>']}}}]},
            ignore_merges=True),
        'gpt2_flags': tokenizer(
            vocab, merges, {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True,
                            'use_regex': True},
            added_tokens=[added(n, '<mask>', special=True, lstrip=True),
                          added(n + 1, '[SEP]', special=True, rstrip=True),
                          added(n + 2, 'magic', special=False),
                          added(n + 3, '<x>', special=False, lstrip=True, rstrip=True),
                          added(n + 4, '<xy>', special=False)]),
        'splits': tokenizer(
            vocab, merges, {'type': 'Sequence', 'pretokenizers': [
                {'type': 'Digits', 'individual_digits': True},
                split(r'\s+', 'Removed'),
                split(r'\p{P}+', 'Isolated'),
                BYTE_LEVEL]}),
        'sentencepiece': sentencepiece_style(),
    }
    for name, tok in files.items():
        with open(os.path.join(OUT, name + '.json'), 'w', encoding='utf-8') as f:
            json.dump(tok, f, ensure_ascii=False)
    # The texts to encode: the shared DeepSeek vectors plus cases for these files' features.
    corpus = []
    with open(os.path.join(DATA, 'deepseek-v3-vectors.jsonl'), encoding='utf-8') as f:
        for line in f:
            corpus.append(json.loads(line)['text'])
    corpus += [
        "I'LL DON'T We'Re it's THEY'VE", 'e\u0301 \u212b \u1100\u1161\u11a8 caf\u0065\u0301 Å',
        '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n', 'a<|endoftext|>b <tool_call> x',
        '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
        'hello <mask> world', 'a   <mask>b', 'x [SEP]   y', 'magic magical amagic magic.',
        ' <x>  tail', '<xy> <x> <xyz>', 'no added tokens here', 'digits 1234567 and 3.14',
        'one,two;three-four  five SIXSEVEN eight!!nine', '日本語のテキスト 한국어 텍스트',
        'emoji 👍🏽 👨‍👩‍👧 text', '  leading', 'trailing  ', '\t\ttabs\n\nnewlines\r\n',
        'A' * 300, 'ab' * 200 + ' ' + 'x' * 50,
    ]
    corpus += random_unicode_strings(400)
    with open(os.path.join(OUT, 'corpus.json'), 'w', encoding='utf-8') as f:
        json.dump(corpus, f, ensure_ascii=False, indent=0)
    print('wrote', ', '.join(files), 'and corpus.json to', OUT)


if __name__ == '__main__':
    main()
