// Benchmarks of `dsinfer serve` (not a test): (1) continuous batching — aggregate decode
// tokens/s of 4 concurrent streams against one stream, alternating runs; (2) the prefix
// cache — time to first token of a request whose long prefix is cached, against a cold one.
// Usage: node bench/serve_bench.mjs [--dsinfer build/dsinfer] [--model DIR] [--runs 3]
//        [--tokens 96] [--streams 4] [--server-args "--spec none ..."]
// Without --model it makes a random model with DeepSeek's vocabulary (hidden 256, 6 layers).
import path from "node:path";
import fs from "node:fs";
import { ROOT, makeModel, tempDir, startServer } from "../tests/e2e/openai-client/harness.mjs";

const argv = process.argv;
const opt = (name, def) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : def);
const DSINFER = path.resolve(opt("--dsinfer", path.join(ROOT, "build/dsinfer")));
const RUNS = Number(opt("--runs", 3)), TOKENS = Number(opt("--tokens", 96)), STREAMS = Number(opt("--streams", 4));
// More `dsinfer serve` options for both servers, space-separated.
const EXTRA = opt("--server-args", "").split(" ").filter((a) => a);

const tmp = tempDir("dsinfer-bench-");
// The servers and the temporary model go away however the benchmark ends (a timeout's
// SIGTERM included).
const servers = [];
const cleanup = () => {
  for (const s of servers) if (s.proc.exitCode === null) s.proc.kill("SIGTERM");
  fs.rmSync(tmp, { recursive: true, force: true });
};
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, () => {
    cleanup();
    process.exit(128 + (sig === "SIGINT" ? 2 : 15));
  });
const model = opt("--model", null) ?? makeModel(path.join(tmp, "bench-v3"), "v3",
  ["--set", "hidden_size=256", "--set", "intermediate_size=512", "--set", "moe_intermediate_size=128",
   "--set", "num_hidden_layers=6"]);

// One streamed request; returns its timing.
async function stream(url, messages, maxTokens, extra = {}) {
  const t0 = performance.now();
  const r = await fetch(url + "/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages, max_tokens: maxTokens, temperature: 0, stream: true,
                           stream_options: { include_usage: true }, logit_bias: { "1": -100 }, ...extra }) });
  if (!r.ok) throw new Error(`request failed (HTTP ${r.status}): ${await r.text()}`);
  const dec = new TextDecoder();
  let buf = "", first = 0, last = 0, usage = null;
  for await (const part of r.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) usage = j.usage;
      const d = j.choices?.[0]?.delta;
      if (d && (d.content || d.reasoning_content)) {
        last = performance.now();
        if (!first) first = last;
      }
    }
  }
  return { ttft: first - t0, first, last, tokens: usage.completion_tokens, usage };
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

// (1) Continuous batching.
const srv = await startServer(DSINFER, ["-m", model, "--parallel", String(STREAMS), "--ctx-size", "1024", ...EXTRA]);
servers.push(srv);
const msg = (i) => [{ role: "user", content: `Please write a long story number ${i}.` }];
// Warm-up, not measured: one single stream and one round of concurrent streams at full
// length. The first rounds of a fresh server and client ran up to 20 % slower (the
// client's parser is still being compiled; the server's buffers grow to the batch).
await stream(srv.url, msg(0), TOKENS);
await Promise.all(Array.from({ length: STREAMS }, (_, i) => stream(srv.url, msg(100 + i), TOKENS)));
const ratios = [], rows = [];
for (let run = 0; run < RUNS; ++run) {
  const one = await stream(srv.url, msg(1), TOKENS);
  const single = (one.tokens - 1) / ((one.last - one.first) / 1000);
  const many = await Promise.all(Array.from({ length: STREAMS }, (_, i) => stream(srv.url, msg(i + 2), TOKENS)));
  const start = Math.min(...many.map((m) => m.first)), end = Math.max(...many.map((m) => m.last));
  const total = many.reduce((s, m) => s + m.tokens - 1, 0);
  const aggregate = total / ((end - start) / 1000);
  const per = many.map((m) => (m.tokens - 1) / ((m.last - m.first) / 1000));
  ratios.push(aggregate / single);
  rows.push({ run, single_tps: +single.toFixed(1), aggregate_tps: +aggregate.toFixed(1),
              ratio: +(aggregate / single).toFixed(2), per_stream_tps: per.map((x) => +x.toFixed(1)),
              slowest_over_fastest: +(Math.min(...per) / Math.max(...per)).toFixed(2) });
}
await srv.stop();
console.log(`continuous batching (${STREAMS} streams x ${TOKENS} tokens vs 1 stream, alternating):`);
console.table(rows);
console.log(`median ratio ${median(ratios).toFixed(2)}x`);

// (2) Prefix cache: a long shared system prompt; cold vs cached time to first token.
// A context large enough for the prompt under a character-level tokenizer too (the shipped
// model's: about 3,300 tokens).
const srv2 = await startServer(DSINFER, ["-m", model, "--parallel", "2", "--ctx-size", "8192", ...EXTRA]);
servers.push(srv2);
const system = Array.from({ length: 150 }, (_, i) => `rule ${i}: be precise.`).join(" ");
const ask = (q) => [{ role: "system", content: system }, { role: "user", content: q }];
await stream(srv2.url, [{ role: "user", content: "warm up" }], 2);
const pc = [];
for (let run = 0; run < RUNS; ++run) {
  const salt = `session ${run} ${Math.random()}`;  // a new prefix each run: the first is cold
  const cold = await stream(srv2.url, [{ role: "system", content: salt + system }, { role: "user", content: "Q1?" }], 1);
  const warm = await stream(srv2.url, [{ role: "system", content: salt + system }, { role: "user", content: "Q2, different?" }], 1);
  const share = warm.usage.prompt_tokens_details.cached_tokens / warm.usage.prompt_tokens;
  pc.push({ run, prompt_tokens: warm.usage.prompt_tokens, cached: warm.usage.prompt_tokens_details.cached_tokens,
            ttft_cold_ms: +cold.ttft.toFixed(1), ttft_cached_ms: +warm.ttft.toFixed(1),
            expected_ms: +(cold.ttft * (1 - share)).toFixed(1), cut: +(1 - warm.ttft / cold.ttft).toFixed(3),
            cached_share: +share.toFixed(3) });
}
await srv2.stop();
console.log("prefix cache (time to first token, cold vs shared prefix cached):");
console.table(pc);
cleanup();
