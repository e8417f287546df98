// Golden ids for the small tokenizers, from transformers.js (a JS port of HF tokenizers).
//   npm install --prefix /tmp/tokgen --ignore-scripts @huggingface/transformers@3
//   TRANSFORMERS_JS=/tmp/tokgen node tools/tokgen/encode_js.mjs
// Writes tests/data/tokenizer/small/golden.jsonl: {tokenizer, text, ids, decoded}.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const prefix = process.env.TRANSFORMERS_JS || '/tmp/tokgen';
const require = createRequire(path.join(prefix, 'package.json'));
const { PreTrainedTokenizer } = require('@huggingface/transformers');

const dir = path.join('tests', 'data', 'tokenizer', 'small');

// HF tokenizers runs these patterns with Oniguruma, where \s is the Unicode White_Space
// property (U+0085 in, U+FEFF out); JavaScript's \s differs in exactly those two, so the
// patterns are rewritten to spell Oniguruma's set out before JS sees them.
const WS = '\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
function onigWhitespace(pattern) {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) {
      const e = pattern[++i];
      if (e === 's') out += inClass ? WS : `[${WS}]`;
      else if (e === 'S') {
        if (inClass) throw new Error('\\S inside a class');
        out += `[^${WS}]`;
      } else out += c + e;
      continue;
    }
    if (c === '[' && !inClass) inClass = true;
    else if (c === ']' && inClass) inClass = false;
    out += c;
  }
  return out;
}
function rewrite(node) {
  if (Array.isArray(node)) return node.forEach(rewrite);
  if (node && typeof node === 'object') {
    if (node.type === 'Split' && node.pattern && node.pattern.Regex)
      node.pattern.Regex = onigWhitespace(node.pattern.Regex);
    Object.values(node).forEach(rewrite);
  }
}
const corpus = JSON.parse(fs.readFileSync(path.join(dir, 'corpus.json'), 'utf8'));
const names = ['qwen2', 'llama3', 'gpt2_flags', 'splits', 'sentencepiece'];
const out = [];
for (const name of names) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, name + '.json'), 'utf8'));
  rewrite(json.pre_tokenizer);
  const tok = new PreTrainedTokenizer(json, {});
  for (const text of corpus) {
    // ByteLevel(use_regex) runs transformers.js's own GPT-2 regex, whose \s is JavaScript's:
    // leave out the two characters where that differs from Oniguruma.
    if (json.pre_tokenizer && json.pre_tokenizer.type === 'ByteLevel' && /[\u0085\ufeff]/.test(text)) continue;
    const ids = tok.encode(text, { add_special_tokens: false });
    const decoded = ids.length === 0 ? '' :
        tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    out.push(JSON.stringify({ tokenizer: name, text, ids, decoded }));
  }
}
fs.writeFileSync(path.join(dir, 'golden.jsonl'), out.join('\n') + '\n');
console.log(`wrote ${out.length} records`);
