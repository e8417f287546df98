#!/usr/bin/python3
"""Golden chat-template renderings made with Python's jinja2, the way HF transformers'
apply_chat_template renders (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loopcontrols, HF's tojson, raise_exception, strftime_now).

Writes tests/data/tokenizer/chat-golden-conversations.json (the conversations by name) and
tests/data/tokenizer/chat-golden.jsonl: one record per (template, conversation,
add_generation_prompt, extra variables) with the rendered text, or "error" when jinja2
raised (the C++ renderer must raise too).

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


def main():
    env = make_env()
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
