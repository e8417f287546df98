#!/usr/bin/python3
"""End-to-end checks of `dsinfer tokenize` and `dsinfer template` (the interfaces outside
checks call): every shared vector and chat rendering, byte for byte, and clear errors.

usage: tokenizer_cli_test.py DSINFER_BINARY TESTS_DATA_TOKENIZER_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

BIN, DATA = sys.argv[1], sys.argv[2]
failures = []


def run(args, expect_ok=True):
    p = subprocess.run([BIN] + args, capture_output=True, timeout=60)
    if expect_ok and p.returncode != 0:
        failures.append('%s failed: %s' % (args, p.stderr.decode(errors='replace')))
    return p


def check(cond, what):
    if not cond:
        failures.append(what)


def main():
    v3 = os.path.join(DATA, 'deepseek-v3')
    with tempfile.TemporaryDirectory() as tmp:
        # tokenize --jsonl: one JSON array per line, no BOS.
        vectors = [json.loads(l) for l in open(os.path.join(DATA, 'deepseek-v3-vectors.jsonl'),
                                               encoding='utf-8')]
        jl = os.path.join(tmp, 'in.jsonl')
        with open(jl, 'w', encoding='utf-8') as f:
            for r in vectors:
                f.write(json.dumps({'text': r['text']}) + '\n')
        for tok_path in (v3, os.path.join(v3, 'tokenizer.json')):
            out = run(['tokenize', '--tokenizer', tok_path, '--jsonl', jl]).stdout.decode()
            lines = out.splitlines()
            check(len(lines) == len(vectors), 'tokenize --jsonl: %d lines' % len(lines))
            for r, line in zip(vectors, lines):
                want = r['ids_hf_tokenizers_js'] if r.get('disputed') else r['ids']
                check(json.loads(line) == want, 'tokenize --jsonl vector %s' % r['id'])

        # tokenize --file: the ids of the whole file.
        text = ''.join(r['text'] for r in vectors[:40])
        tf = os.path.join(tmp, 'in.txt')
        with open(tf, 'wb') as f:
            f.write(text.encode('utf-8'))
        ids = json.loads(run(['tokenize', '--tokenizer', v3, '--file', tf]).stdout)
        check(isinstance(ids, list) and len(ids) > 40 and ids[0] != 0, 'tokenize --file')

        # template: the shared chat vectors, printed exactly (no newline added).
        r1dir = os.path.join(tmp, 'r1')
        os.makedirs(r1dir)
        with open(os.path.join(DATA, 'deepseek-r1', 'tokenizer_config.json'), 'rb') as src, \
                open(os.path.join(r1dir, 'tokenizer_config.json'), 'wb') as dst:
            dst.write(src.read())
        chats = [json.loads(l) for l in open(os.path.join(DATA, 'deepseek-chat-template-vectors.jsonl'),
                                             encoding='utf-8')]
        mf = os.path.join(tmp, 'messages.json')
        for c in chats:
            with open(mf, 'w', encoding='utf-8') as f:
                json.dump(c['messages'], f, ensure_ascii=False)
            args = ['template', '--tokenizer', v3 if c['template'] == 'v3' else r1dir,
                    '--messages', mf]
            if c['add_generation_prompt']:
                args.append('--add-generation-prompt')
            out = run(args).stdout
            check(out == c['text'].encode('utf-8'), 'template %s/%s' % (c['template'], c['name']))

        # template with --template, --tools and --thinking (V3.1 / V3.2 goldens).
        convs = json.load(open(os.path.join(DATA, 'chat-golden-conversations.json'), encoding='utf-8'))
        golden = [json.loads(l) for l in open(os.path.join(DATA, 'chat-golden.jsonl'), encoding='utf-8')]
        tried = 0
        for g in golden:
            extra = g['extra']
            if g['file'] is None or 'text' not in g or set(extra) - {'thinking', 'tools'}:
                continue
            if extra.get('thinking') is False:
                continue
            with open(mf, 'w', encoding='utf-8') as f:
                json.dump(convs[g['conversation']], f, ensure_ascii=False)
            args = ['template', '--tokenizer', v3, '--template',
                    os.path.join(DATA, 'templates', g['file']), '--messages', mf]
            if g['add_generation_prompt']:
                args.append('--add-generation-prompt')
            if extra.get('thinking'):
                args.append('--thinking')
            if 'tools' in extra:
                tools = os.path.join(tmp, 'tools.json')
                with open(tools, 'w', encoding='utf-8') as f:
                    json.dump(extra['tools'], f, ensure_ascii=False)
                args += ['--tools', tools]
            out = run(args).stdout
            check(out == g['text'].encode('utf-8'),
                  'template --template %s %s %s' % (g['file'], g['conversation'], extra))
            tried += 1
        check(tried > 100, 'template goldens tried: %d' % tried)

        # Errors: non-zero exit and a message on stderr.
        bad = os.path.join(tmp, 'bad.jsonl')
        with open(bad, 'w') as f:
            f.write('{"text": "ok"}\n{"nope": 1}\n')
        for args in (['tokenize', '--tokenizer', os.path.join(tmp, 'missing'), '--file', tf],
                     ['tokenize', '--tokenizer', v3, '--jsonl', bad],
                     ['template', '--tokenizer', tmp, '--messages', mf]):
            p = run(args, expect_ok=False)
            check(p.returncode != 0 and b'error:' in p.stderr, 'expected a clean error for %s' % args)

    for f in failures[:30]:
        print('FAIL:', f)
    print('%d failures' % len(failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
