#!/usr/bin/python3
"""Golden chat-template renderings made with Python's jinja2, the way HF transformers'
apply_chat_template renders (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, HF's tojson, raise_exception, strftime_now).

Writes tests/data/tokenizer/chat-golden-conversations.json (the conversations by name) and
tests/data/tokenizer/chat-golden.jsonl: one record per (template, conversation,
add_generation_prompt, extra variables) with the rendered text, or "error" when jinja2
raised (the C++ renderer must raise too); and tests/data/tokenizer/jinja-snippets.jsonl,
small templates that exercise one feature each.

Run from the repository root: /usr/bin/python3 tools/tokgen/render_templates.py
"""
import json
import os
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

DATA = os.path.join('tests', 'data', 'tokenizer')
BOS = '<｜begin▁of▁sentence｜>'
EOS = '<｜end▁of▁sentence｜>'


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers/utils/chat_template_utils.py
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters['tojson'] = tojson
    # Not an HF filter; the V3.2 / V4 templates use it (llama.cpp's minja provides it).
    env.filters['from_json'] = json.loads
    env.globals['raise_exception'] = raise_exception
    env.globals['strftime_now'] = strftime_now
    return env


def templates():
    out = {}
    for name, d in (('v3', 'deepseek-v3'), ('r1', 'deepseek-r1')):
        with open(os.path.join(DATA, d, 'tokenizer_config.json'), encoding='utf-8') as f:
            out[name] = (None, json.load(f)['chat_template'])
    tdir = os.path.join(DATA, 'templates')
    for fn in sorted(os.listdir(tdir)):
        if fn.endswith('.jinja'):
            with open(os.path.join(tdir, fn), encoding='utf-8', newline='') as f:
                out[fn[:-len('.jinja')]] = (fn, f.read())
    return out


def call(cid, name, args, id_in_args=True):
    return {'id': cid, 'type': 'function',
            'function': {'name': name, 'arguments': json.dumps(args, ensure_ascii=False)
                         if id_in_args else args}}


WEATHER_TOOL = {'type': 'function', 'function': {
    'name': 'get_weather', 'description': 'Get the weather for a city, in °C.',
    'parameters': {'type': 'object', 'properties': {
        'city': {'type': 'string', 'description': 'City name, e.g. "Paris"'},
        'days': {'type': 'integer'}}, 'required': ['city']}}}
SEARCH_TOOL = {'type': 'function', 'function': {
    'name': 'search', 'description': 'Search the web.\nReturns snippets.',
    'parameters': {'type': 'object', 'properties': {'q': {'type': 'string'}}}}}

CONVERSATIONS = {
    'single_user': [{'role': 'user', 'content': 'Hi'}],
    'system_user': [{'role': 'system', 'content': 'You are a helpful assistant.'},
                    {'role': 'user', 'content': 'What is 2+2?'}],
    'two_systems': [{'role': 'system', 'content': 'Rule one.'},
                    {'role': 'system', 'content': 'Rule two.'},
                    {'role': 'user', 'content': 'Go.'}],
    'multi_turn': [{'role': 'user', 'content': 'Hello!'},
                   {'role': 'assistant', 'content': 'Hi, how can I help?'},
                   {'role': 'user', 'content': 'Tell me a joke.'},
                   {'role': 'assistant', 'content': 'Why did the chicken cross the road?'},
                   {'role': 'user', 'content': 'Why?'}],
    'cjk_emoji': [{'role': 'system', 'content': '你是一个乐于助人的助手。'},
                  {'role': 'user', 'content': '你好！今天天气怎么样？😀'},
                  {'role': 'assistant', 'content': '今天天气晴朗，气温25°C。☀️'},
                  {'role': 'user', 'content': 'ありがとう 👍🏽'}],
    'whitespace': [{'role': 'user', 'content': '  leading and trailing  \n\n'},
                   {'role': 'assistant', 'content': '\n\tTabbed\r\nCRLF\n'},
                   {'role': 'user', 'content': ''}],
    'code_quotes': [{'role': 'user', 'content': 'Fix:\n```python\nprint("a\\\\b", \'c\')\n```'},
                    {'role': 'assistant', 'content': 'Use `print(r"a\\b")` {{ not jinja }} {% raw %}'}],
    'think_in_history': [{'role': 'user', 'content': 'Solve 1+1.'},
                         {'role': 'assistant', 'content': '<think>\n1+1 is 2.\n</think>\n\nIt is 2.'},
                         {'role': 'user', 'content': 'And 2+2?'}],
    'reasoning_content': [{'role': 'user', 'content': 'Think first.'},
                          {'role': 'assistant', 'content': 'Done.',
                           'reasoning_content': 'Let me think.'},
                          {'role': 'user', 'content': 'Again.'}],
    'tool_call_single': [
        {'role': 'system', 'content': 'Use tools when needed.'},
        {'role': 'user', 'content': 'Weather in Paris?'},
        {'role': 'assistant', 'content': None,
         'tool_calls': [call('call_1', 'get_weather', {'city': 'Paris', 'days': 2})]},
        {'role': 'tool', 'tool_call_id': 'call_1', 'content': '{"temp": 21, "sky": "clear"}'},
        {'role': 'assistant', 'content': 'It is 21°C and clear in Paris.'}],
    'tool_calls_multi': [
        {'role': 'user', 'content': 'Weather in Paris and "Zürich"?'},
        {'role': 'assistant', 'content': None,
         'tool_calls': [call('c1', 'get_weather', {'city': 'Paris'}),
                        call('c2', 'get_weather', {'city': 'Zürich', 'note': 'a\nb "q"'})]},
        {'role': 'tool', 'tool_call_id': 'c1', 'content': '18'},
        {'role': 'tool', 'tool_call_id': 'c2', 'content': '12'}],
    'tool_output_then_user': [
        {'role': 'user', 'content': 'Search for cats.'},
        {'role': 'assistant', 'content': None,
         'tool_calls': [call('s1', 'search', {'q': 'cats'})]},
        {'role': 'tool', 'tool_call_id': 's1', 'content': 'Cats are mammals.'},
        {'role': 'assistant', 'content': 'Cats are mammals.'},
        {'role': 'user', 'content': 'Thanks'}],
    'tool_call_with_content': [
        {'role': 'user', 'content': 'Find dogs.'},
        {'role': 'assistant', 'content': 'Let me search.',
         'tool_calls': [call('s2', 'search', {'q': 'dogs', 'n': [1, 2.5, True, None]})]},
        {'role': 'tool', 'tool_call_id': 's2', 'content': 'Dogs bark.'}],
    'tool_args_dict': [
        {'role': 'user', 'content': 'Weather?'},
        {'role': 'assistant', 'content': None,
         'tool_calls': [call('d1', 'get_weather', {'city': 'Oslo', 'days': 3}, False)]},
        {'role': 'tool', 'tool_call_id': 'd1', 'content': 'cold'}],
    'empty_contents': [{'role': 'system', 'content': ''}, {'role': 'user', 'content': ''},
                       {'role': 'assistant', 'content': ''}],
    'missing_content': [{'role': 'user', 'content': 'x'},
                        {'role': 'assistant',
                         'tool_calls': [call('m1', 'search', {'q': 'x'})]}],
    'prefix_assistant': [{'role': 'user', 'content': 'Continue:'},
                         {'role': 'assistant', 'content': 'Once upon', 'prefix': True}],
    'long_history': [m for k in range(12) for m in (
        {'role': 'user', 'content': 'Question %d?' % k},
        {'role': 'assistant', 'content': 'Answer %d.' % k})],
    'list_content': [{'role': 'user', 'content': [{'type': 'text', 'text': 'Describe'},
                                                  {'type': 'image', 'image': 'x.png'}]}],
    'no_messages': [],
}

# Extra variables tried per template family.
THINKING = [{}, {'thinking': True}, {'thinking': False}, {'enable_thinking': True}]
EXTRAS = {
    'deepseek-ai-DeepSeek-V3.1': THINKING,
    'deepseek-ai-DeepSeek-V3.2': THINKING + [{'thinking': True, 'tools': [WEATHER_TOOL, SEARCH_TOOL]}],
    'deepseek-ai-DeepSeek-V4': THINKING + [
        {'thinking': True, 'tools': [WEATHER_TOOL]},
        {'thinking': True, 'reasoning_effort': 'max', 'drop_thinking': False},
        {'response_format': {'type': 'json_object'}}],
    'deepseek-ai-DeepSeek-V4-Flash-0731': THINKING + [
        {'thinking': True, 'reasoning_effort': 'high', 'tools': [SEARCH_TOOL]}],
    'deepseek-ai-DeepSeek-R1-Distill-Qwen-32B': [{}, {'enable_thinking': True}],
    'moonshotai-Kimi-K2': [{}, {'tools': [WEATHER_TOOL, SEARCH_TOOL]}],
}


# Small templates exercising one feature each; rendered with the same environment.
SNIPPETS = [
    ('{% if x %}a{% elif y %}b{% else %}c{% endif %}', {'x': 0, 'y': 1}),
    ('{% for i in items %}{{ loop.index }}/{{ loop.length }}:{{ i }}{% if not loop.last %},{% endif %}{% endfor %}',
     {'items': ['a', 'b', 'c']}),
    ('{% for i in items %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}'
     '{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle("x", "y") }};{% endfor %}', {'items': [1, 2, 3]}),
    ('{% for i in [] %}x{% else %}empty{% endfor %}', {}),
    ('{% for i in range(10) if i is odd %}{{ i }}{% endfor %}', {}),
    ('{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}', {}),
    ('{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}', {'d': {'b': 1, 'a': [1, 2]}}),
    ('{% set x = 1 %}{% for i in range(3) %}{% set x = x + i %}{{ x }}{% endfor %}|{{ x }}', {}),
    ('{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}', {}),
    ('{% set a, b = 1, "two" %}{{ a }}{{ b }}', {}),
    ('{% set block %}inner {{ 1 + 1 }}{% endset %}[{{ block }}]', {}),
    ('{% macro greet(name, punct="!") %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet("Bo") }} {{ greet("Al", punct="?") }}', {}),
    ('{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}body{% endcall %}', {}),
    ('{% filter upper %}shout {{ x }}{% endfilter %}', {'x': 'it'}),
    ('{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1.5 * 2 }} {{ 10 / 4 }}', {}),
    ('{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-7 }} {{ 123456789.125 }} {{ 1.0 }} {{ -0.5 }} {{ 3.0e15 }} {{ 1e16 }} {{ 0.0001 }}', {}),
    ('{{ "a" ~ 1 ~ none ~ true }} {{ [1, "b", none, false, 2.5] }} {{ {"k": "v\'s", "n": [1]} }}', {}),
    ('{{ "abc"[1] }}{{ "héllo"[1:3] }}{{ "hello"[::-1] }}{{ [1,2,3,4][1:] }}{{ [1,2,3][-1] }}{{ "日本語"[-1] }}', {}),
    ('{{ "x" in "xyz" }}{{ 2 in [1,2] }}{{ "k" in {"k":1} }}{{ 3 not in [1] }}', {}),
    ('{{ "a b  c".split() }}{{ "a,b,,c".split(",") }}{{ "a,b,c".split(",", 1) }}{{ "a,b,c".rsplit(",", 1) }}', {}),
    ('{{ "  x  ".strip() }}|{{ "xxhixx".strip("x") }}|{{ "  x".lstrip() }}|{{ "x  ".rstrip() }}|', {}),
    ('{{ "hello".startswith("he") }}{{ "hello".endswith(("x", "lo")) }}{{ "aaa".replace("a", "b", 2) }}', {}),
    ('{{ "Hello World".upper() }}{{ "Hello".lower() }}{{ "hello world".title() }}{{ "hELLO".capitalize() }}', {}),
    ('{{ "  pad  " | trim }}|{{ [1,2,3] | length }}|{{ "日本" | length }}|{{ {"a":1} | length }}', {}),
    ('{{ x | default("dflt") }}|{{ "" | default("e", true) }}|{{ none | default("n") }}', {}),
    ('{{ [3,1,2] | sort | join(",") }}|{{ ["a","b"] | join }}|{{ [1,2] | first }}{{ [1,2] | last }}', {}),
    ('{{ users | map(attribute="name") | join(", ") }}|{{ users | selectattr("admin") | map(attribute="name") | list }}',
     {'users': [{'name': 'a', 'admin': True}, {'name': 'b', 'admin': False}]}),
    ('{{ users | rejectattr("admin") | list | length }}{{ [1,0,2] | select | list }}{{ [1,2,3] | reject("odd") | list }}',
     {'users': [{'name': 'a', 'admin': True}, {'name': 'b'}]}),
    ('{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ s | tojson }}|{{ [] | tojson }}|{{ {} | tojson }}',
     {'d': {'z': 1, 'a': [True, None, 1.5, 'ü'], 'n': {'x': {}}}, 's': 'é\n"<>&\x01\\'}),
    ('{{ d.items() | list }}{{ (1,) }}{{ () }}{% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %}', {'d': {'b': 2, 'a': 1}}),
    ('{{ d | tojson(sort_keys=true) }}{{ d | dictsort }}{{ d.keys() | list }}{{ d.values() | list }}', {'d': {'b': 2, 'a': 1}}),
    ('{{ d.get("a") }}{{ d.get("zz", "no") }}{{ d.get("zz") }}{{ d["a"] }}{{ d.a }}', {'d': {'a': 1}}),
    ('{{ x is defined }}{{ y is defined }}{{ n is none }}{{ x is string }}{{ 1 is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ x is not none }}',
     {'x': 's', 'n': None}),
    ('{{ [1] is iterable }}{{ {} is mapping }}{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ 2 is eq 2 }}{{ none is sameas none }}', {}),
    ('{{ "yes" if x else "no" }}{{ "only" if y }}|', {'x': 1}),
    ('{{ not x and y or z }}{{ (1, 2) }}{{ 1 < 2 }}{{ "a" < "b" }}{{ [1,2] == [1,2] }}{{ 1 == 1.0 }}{{ true == 1 }}', {'x': 0, 'y': 0, 'z': 5}),
    ('{{ "%s-%s" % (1, "a") }} {{ "x" * 3 }} {{ -x }} {{ [1] + [2] }}', {'x': 4}),
    ('{{ 3.7 | int }}{{ "42" | int }}{{ "x" | int }}{{ 2 | float }}{{ -3 | abs }}{{ 2.567 | round(2) }}{{ [1,2,3] | sum }}{{ [3,1] | max }}{{ [3,1] | min }}', {}),
    ('{{ "a\nb\n\nc" | indent(2) }}|{{ "a\nb" | indent(4, true) }}', {}),
    ('{{ ["b","a","b"] | unique | list }}{{ "abc" | list }}{{ [1,2,3] | reverse | list }}{{ "abc" | reverse }}{{ [1,2,3,4,5] | batch(2) | list }}', {}),
    ('{{ "a-b-c".find("b") }}{{ "abcabc".count("b") }}{{ "x".join(["1","2"]) }}{{ "12".isdigit() }}{{ "a\nb".splitlines() }}', {}),
    ('{# comment #}a  {#- trimmed -#}  b', {}),
    ('  {% if true %}\n    x\n  {% endif %}\ny', {}),
    ('{%- if true -%}\n   a   \n{%- endif -%}\n  b', {}),
    ('{{- " a " -}}  {{ "b" }}\n{%+ if true %}c{% endif +%}\nd', {}),
    ('{% raw %}{{ not rendered }}{% endraw %}', {}),
    ('line1\r\nline2\n', {}),
    ('{{ messages[0]["content"] }}{{ messages[0].content }}{{ messages[1] is defined }}', {'messages': [{'content': 'hi'}]}),
    ('{{ raise_exception("bad role") }}', {}),
    ('{{ x.y }}', {}),
    ('{{ "a" + 1 }}', {}),
    ('{{ 1 / 0 }}', {}),
    ('{{ [1,2] | nonexistentfilter }}', {}),
    ('{% for x in none %}{% endfor %}', {}),
    ('{% if %}{% endif %}', {}),
    ('{% if true %}unclosed', {}),
    ('{{ 1 + }}', {}),
    ('{% endfor %}', {}),
    ('{% set d = {} %}{% set d.x = 1 %}', {}),
    ('{% set ns = namespace(a=1) %}{% set ns.b = 2 %}{{ ns.a }}{{ ns.b }}', {}),
    ('{{ "\\u00e9\\x41\\t|" }}{{ \'single "q"\' }}', {}),
    ('{{ none }}{{ true }}{{ false }}{{ 1 }}{{ -0.0 }}{{ x }}|{{ [none, true] }}', {}),
    ('{{ "a" if x is defined and x else "b" }}{{ (x or "fallback") | upper }}', {}),
    ('{% for m in messages %}{% if m.role == "user" %}U:{{ m.content | trim }}{% elif m.role == "assistant" %}A:{{ m.content }}{% endif %}\n{% endfor %}',
     {'messages': [{'role': 'user', 'content': ' hi '}, {'role': 'assistant', 'content': 'yo'}]}),
]


def render_snippets(env):
    with open(os.path.join(DATA, 'jinja-snippets.jsonl'), 'w', encoding='utf-8') as out:
        for src, ctx in SNIPPETS:
            rec = {'template': src, 'context': ctx}
            try:
                rec['text'] = env.from_string(src).render(**ctx)
            except Exception as e:  # parse and render errors alike
                rec['error'] = '%s: %s' % (type(e).__name__, e)
            out.write(json.dumps(rec, ensure_ascii=False) + '\n')


def main():
    env = make_env()
    render_snippets(env)
    with open(os.path.join(DATA, 'chat-golden-conversations.json'), 'w', encoding='utf-8') as f:
        json.dump(CONVERSATIONS, f, ensure_ascii=False, indent=1)
        f.write('\n')
    out_path = os.path.join(DATA, 'chat-golden.jsonl')
    n = 0
    with open(out_path, 'w', encoding='utf-8') as out:
        for tname, (fname, source) in templates().items():
            tmpl = env.from_string(source)
            for cname, messages in CONVERSATIONS.items():
                for extra in EXTRAS.get(tname, [{}]):
                    for agp in (False, True):
                        ctx = {'bos_token': BOS, 'eos_token': EOS, 'pad_token': EOS,
                               'messages': json.loads(json.dumps(messages)),
                               'tools': None, 'documents': None,
                               'add_generation_prompt': agp}
                        ctx.update(json.loads(json.dumps(extra)))
                        rec = {'template': tname, 'file': fname, 'conversation': cname,
                               'add_generation_prompt': agp, 'extra': extra}
                        try:
                            rec['text'] = tmpl.render(**ctx)
                        except Exception as e:  # the C++ renderer must fail as well
                            rec['error'] = '%s: %s' % (type(e).__name__, e)
                        out.write(json.dumps(rec, ensure_ascii=False) + '\n')
                        n += 1
    print('wrote %d renderings to %s' % (n, out_path))


if __name__ == '__main__':
    main()
