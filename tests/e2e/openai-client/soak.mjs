// Soak test: 8 concurrent clients send random valid, over-length and malformed requests (and
// drop streams half-way) for --seconds; the server must stay up, answer every valid request
// exactly as it answers it alone, and keep its resident memory flat after warm-up.
// Usage: DSINFER=build/dsinfer node soak.mjs [--seconds 60] [--clients 8]
import path from "node:path";
import fs from "node:fs";
import OpenAI from "openai";
import { makeModel, tempDir, startServer, rssKiB, metrics } from "./harness.mjs";

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg("--seconds", 60), CLIENTS = arg("--clients", 8);
const DSINFER = process.env.DSINFER || path.resolve("../../../build/dsinfer");

const tmp = tempDir("dsinfer-soak-");
const model = makeModel(path.join(tmp, "tiny-v3"));
const srv = await startServer(DSINFER, ["-m", model, "--parallel", "4", "--ctx-size", "512",
                                        "--cache-ram", "64", "--max-tokens", "256"]);
const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0, timeout: 60000 });
const prompts = ["Hi there", "What is 2+2?", "Write a haiku about the sea.", "Translate 'cat' to French.",
                 "List three colours.", "Explain MLA attention in one line."];
const system = "You are a terse assistant. Answer briefly and precisely, without any preamble.";
const msgs = (p) => [{ role: "system", content: system }, { role: "user", content: p }];

// Reference answers, each computed alone.
const ref = [];
for (const p of prompts)
  ref.push((await client.chat.completions.create({ messages: msgs(p), max_tokens: 24, temperature: 0 })).choices[0].message.content);

const stats = { valid: 0, stream: 0, json: 0, overlength: 0, malformed: 0, dropped: 0, wrong: [] };
const longText = Array.from({ length: 900 }, (_, i) => `w${i}`).join(" ");
const rand = (n) => Math.floor(Math.random() * n);
const post = (body) => fetch(srv.url + "/v1/chat/completions", { method: "POST", body,
                                                                 headers: { "Content-Type": "application/json" } });
const end = Date.now() + SECONDS * 1000;

async function worker(id) {
  while (Date.now() < end) {
    const kind = rand(7), i = rand(prompts.length);
    try {
      if (kind <= 1) {
        const r = await client.chat.completions.create({ messages: msgs(prompts[i]), max_tokens: 24, temperature: 0 });
        if (r.choices[0].message.content !== ref[i]) stats.wrong.push(`valid ${i}`);
        stats.valid++;
      } else if (kind === 2) {
        let text = "";
        for await (const c of await client.chat.completions.create({ messages: msgs(prompts[i]), max_tokens: 24,
                                                                    temperature: 0, stream: true }))
          text += c.choices[0]?.delta?.content ?? "";
        if (text !== ref[i]) stats.wrong.push(`stream ${i}`);
        stats.stream++;
      } else if (kind === 3) {
        const r = await client.chat.completions.create({ messages: msgs(prompts[i]), max_tokens: 32,
          temperature: 1, response_format: { type: "json_object" } });
        JSON.parse(r.choices[0].message.content);
        stats.json++;
      } else if (kind === 4) {
        try {
          await client.chat.completions.create({ messages: msgs(longText) });
          stats.wrong.push("over-length accepted");
        } catch (e) {
          if (e.status !== 400) stats.wrong.push(`over-length status ${e.status}`);
        }
        stats.overlength++;
      } else if (kind === 5) {
        const bodies = ["{", "[]", '{"messages": 5}', '{"messages": [{"role": "x", "content": "y"}]}',
                        '{"messages": [{"role": "user", "content": "hi"}], "top_p": "high"}', "\u0000\u0001"];
        const r = await post(bodies[rand(bodies.length)]);
        if (r.status !== 400) stats.wrong.push(`malformed status ${r.status}`);
        await r.text();
        stats.malformed++;
      } else {
        const s = await client.chat.completions.create({ messages: msgs(prompts[i]), max_tokens: 200,
                                                         temperature: 1, stream: true });
        let n = 0;
        for await (const _ of s) if (++n >= 2 + rand(5)) break;
        stats.dropped++;
      }
    } catch (e) {
      stats.wrong.push(`client ${id}: ${e.status ?? ""} ${e.message}`);
    }
  }
}

const rss = [];
const t0 = Date.now();
const sampler = setInterval(() => rss.push([(Date.now() - t0) / 1000, rssKiB(srv.proc.pid)]), 1000);
await Promise.all(Array.from({ length: CLIENTS }, (_, i) => worker(i)));
clearInterval(sampler);
const alive = (await fetch(srv.url + "/health")).status === 200;
const m = await metrics(srv.url);
const code = await srv.stop();
fs.rmSync(tmp, { recursive: true, force: true });

const warm = rss.filter(([t]) => t >= Math.min(15, SECONDS / 3)).map(([, k]) => k);
const growth = warm.length ? warm[warm.length - 1] - Math.min(...warm) : 0;
const report = { seconds: SECONDS, clients: CLIENTS, ...stats, wrong: stats.wrong.slice(0, 10), n_wrong: stats.wrong.length,
                 alive, exit_code: code, rss_kib_after_warmup: { first: warm[0], min: Math.min(...warm), max: Math.max(...warm), last: warm[warm.length - 1] },
                 generated_tokens: m["dsinfer_generated_tokens_total"], cache_hit_tokens: m["dsinfer_prefix_cache_hit_tokens_total"] };
console.log(JSON.stringify(report, null, 1));
const ok = alive && code === 0 && stats.wrong.length === 0 && growth < 16 * 1024;
console.log(ok ? "soak: OK" : `soak: FAILED (rss growth ${growth} KiB)`);
process.exit(ok ? 0 : 1);
