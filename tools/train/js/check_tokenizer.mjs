import { AutoTokenizer, env } from '@huggingface/transformers';
import fs from 'fs';
env.allowRemoteModels = false;
env.localModelPath = process.argv[2].replace(/[^/]+\/?$/, '');
const tok = await AutoTokenizer.from_pretrained(process.argv[2].replace(/\/$/,'').split('/').pop());
const cases = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const out = [];
for (const c of cases) {
  const ids = tok.encode(c.text, { add_special_tokens: false });
  const prompt = tok.apply_chat_template([{ role: 'user', content: c.question }], { tokenize: false, add_generation_prompt: true });
  out.push({ ids: Array.from(ids), prompt });
}
fs.writeFileSync(process.argv[4], JSON.stringify(out));
console.log('ok', out.length);
