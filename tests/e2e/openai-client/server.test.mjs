// `dsinfer serve` driven by the official openai npm client. Random weights say gibberish, so
// the tests check structure, determinism and constraints, never the words.
// Usage: node --test server.test.mjs   (DSINFER=path/to/dsinfer)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import fs from "node:fs";
import OpenAI from "openai";
import { makeModel, tempDir, startServer, metrics } from "./harness.mjs";

const DSINFER = process.env.DSINFER || path.resolve("../../../build/dsinfer");
const KEY = "test-key-123";
let tmp, v3, r1, client, r1client;
const stopping = [];  // servers a test started, on their way out (their exit codes)

before(async () => {
  tmp = tempDir("dsinfer-serve-");
  const v3dir = makeModel(path.join(tmp, "tiny-v3"), "v3");
  const r1dir = path.join(tmp, "tiny-r1");
  fs.mkdirSync(r1dir);
  for (const f of ["config.json", "model.safetensors"]) fs.copyFileSync(path.join(v3dir, f), path.join(r1dir, f));
  makeModel(r1dir, "r1");
  v3 = await startServer(DSINFER, ["-m", v3dir, "--parallel", "4", "--ctx-size", "1024",
                                   "--api-key", KEY, "--max-body", "64", "--max-tokens", "512"]);
  r1 = await startServer(DSINFER, ["-m", r1dir, "--parallel", "2", "--ctx-size", "512"]);
  client = new OpenAI({ baseURL: v3.url + "/v1", apiKey: KEY, maxRetries: 0 });
  r1client = new OpenAI({ baseURL: r1.url + "/v1", apiKey: "unused", maxRetries: 0 });
});

after(async () => {
  const codes = await Promise.all([v3?.stop(), r1?.stop(), ...stopping]);
  assert.deepEqual(codes, codes.map(() => 0), "servers exit cleanly on SIGTERM");
  fs.rmSync(tmp, { recursive: true, force: true });
});

const user = (content) => [{ role: "user", content }];

async function drain(stream) {
  const out = { content: "", reasoning: "", chunks: [], toolCalls: [], finish: null, usage: null };
  for await (const c of stream) {
    out.chunks.push(c);
    if (c.usage) out.usage = c.usage;
    const ch = c.choices[0];
    if (!ch) continue;
    out.content += ch.delta?.content ?? ch.text ?? "";
    out.reasoning += ch.delta?.reasoning_content ?? "";
    for (const t of ch.delta?.tool_calls ?? []) out.toolCalls.push(t);
    if (ch.finish_reason) out.finish = ch.finish_reason;
  }
  return out;
}

function checkUsage(u) {
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert.equal(typeof u.prompt_tokens_details.cached_tokens, "number");
  assert.equal(typeof u.completion_tokens_details.reasoning_tokens, "number");
  assert.equal(u.prompt_cache_hit_tokens + u.prompt_cache_miss_tokens, u.prompt_tokens);
}

test("models, health and metrics", async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["tiny-v3"]);
  assert.equal((await fetch(v3.url + "/health")).status, 200);  // no key needed
  const m = await metrics(v3.url);
  assert.ok("dsinfer_queue_depth" in m && "dsinfer_decode_tokens_per_second" in m);
});

test("plain chat: structure, usage, determinism", async () => {
  const req = { model: "anything", messages: user("Hello!"), max_tokens: 12, temperature: 0 };
  const a = await client.chat.completions.create(req);
  assert.equal(a.object, "chat.completion");
  assert.equal(a.model, "tiny-v3");
  assert.equal(a.choices[0].message.role, "assistant");
  assert.equal(typeof a.choices[0].message.content, "string");
  assert.ok(["stop", "length"].includes(a.choices[0].finish_reason));
  checkUsage(a.usage);
  assert.ok(a.usage.completion_tokens <= 12);
  const b = await client.chat.completions.create(req);
  assert.equal(b.choices[0].message.content, a.choices[0].message.content);
  assert.ok(b.usage.prompt_tokens_details.cached_tokens > 0, "the repeated prompt hits the prefix cache");
  const m = await metrics(v3.url);
  assert.ok(m['dsinfer_requests_total{route="/v1/chat/completions",status="200"}'] >= 2,
            "answered requests are counted with status 200");
  assert.ok(!Object.keys(m).some((k) => k.includes('status="-1"')));
  // Sampling with a seed is reproducible.
  const s = { ...req, temperature: 0.9, top_p: 0.9, top_k: 50, min_p: 0.01, seed: 42,
              presence_penalty: 0.5, frequency_penalty: 0.3 };
  const [x, y] = [await client.chat.completions.create(s), await client.chat.completions.create(s)];
  assert.equal(x.choices[0].message.content, y.choices[0].message.content);
});

test("streamed chat matches the non-streamed answer and reports usage", async () => {
  const req = { messages: user("Tell me a story."), max_tokens: 16, temperature: 0 };
  const plain = await client.chat.completions.create(req);
  const s = await drain(await client.chat.completions.create({ ...req, stream: true,
                                                                stream_options: { include_usage: true } }));
  assert.equal(s.content, plain.choices[0].message.content);
  assert.equal(s.chunks[0].choices[0].delta.role, "assistant");
  assert.ok(s.chunks.every((c) => c.object === "chat.completion.chunk"));
  assert.equal(s.finish, plain.choices[0].finish_reason);
  checkUsage(s.usage);
  assert.equal(s.usage.completion_tokens, plain.usage.completion_tokens);
});

test("stop strings and logprobs", async () => {
  const base = { messages: user("Count."), max_tokens: 10, temperature: 0 };
  const full = (await client.chat.completions.create(base)).choices[0].message.content;
  assert.ok(full.length >= 4);
  const stop = full.slice(2, 4);
  const cut = await client.chat.completions.create({ ...base, stop: [stop] });
  assert.equal(cut.choices[0].message.content, full.slice(0, full.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, "stop");
  const lp = await client.chat.completions.create({ ...base, logprobs: true, top_logprobs: 3 });
  const content = lp.choices[0].logprobs.content;
  assert.equal(content.length, lp.usage.completion_tokens);
  for (const t of content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(t.top_logprobs[0].logprob >= t.logprob - 1e-4);  // greedy: the chosen is the best
  }
});

test("JSON mode returns a valid object, plain and streamed", async () => {
  for (const seed of [1, 2, 3]) {
    const req = { messages: user("Answer in JSON."), max_tokens: 40, temperature: 1, seed,
                  response_format: { type: "json_object" } };
    const r = await client.chat.completions.create(req);
    const v = JSON.parse(r.choices[0].message.content);
    assert.equal(typeof v, "object");
    assert.ok(!Array.isArray(v) && v !== null);
    assert.equal(r.choices[0].finish_reason, "stop");
    const s = await drain(await client.chat.completions.create({ ...req, stream: true }));
    assert.equal(s.content, r.choices[0].message.content);
  }
});

test("tool call round trip", async () => {
  const tools = [{ type: "function", function: { name: "get_weather", description: "Current weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } },
    { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } }];
  const messages = user("What's the weather in Paris?");
  const r = await client.chat.completions.create({ messages, tools, max_tokens: 60, temperature: 0.8, seed: 5,
    tool_choice: { type: "function", function: { name: "get_weather" } } });
  const msg = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, "tool_calls");
  assert.equal(msg.tool_calls.length, 1);
  const call = msg.tool_calls[0];
  assert.equal(call.type, "function");
  assert.equal(call.function.name, "get_weather");
  assert.match(call.id, /^call_/);
  assert.equal(typeof JSON.parse(call.function.arguments), "object");
  // "required" picks one of the tools; streamed calls arrive as delta.tool_calls.
  const s = await drain(await client.chat.completions.create({ messages, tools, max_tokens: 60,
    tool_choice: "required", stream: true, seed: 6 }));
  assert.equal(s.finish, "tool_calls");
  assert.ok(["get_weather", "get_time"].includes(s.toolCalls[0].function.name));
  JSON.parse(s.toolCalls[0].function.arguments);
  // The result goes back on the next turn; the earlier turn's prefix is reused.
  const next = await client.chat.completions.create({ tools, max_tokens: 8, temperature: 0, messages: [
    ...messages, msg, { role: "tool", tool_call_id: call.id, content: "{\"temp_c\": 21}" }] });
  assert.ok(next.usage.prompt_tokens > r.usage.prompt_tokens);
  assert.ok(next.usage.prompt_tokens_details.cached_tokens > 0);
  assert.equal(typeof next.choices[0].message.content, "string");
  // tool_choice "none": no constraint, no tool calls parsed.
  const none = await client.chat.completions.create({ messages, tools, tool_choice: "none", max_tokens: 4 });
  assert.equal(none.choices[0].message.tool_calls, undefined);
});

test("R1 template: reasoning_content split, plain and streamed", async () => {
  const r = await r1client.chat.completions.create({ messages: user("What is 2+2?"), max_tokens: 10, temperature: 0 });
  const m = r.choices[0].message;
  // A random model never closes the think block in 10 tokens: all of it is reasoning.
  assert.equal(typeof m.reasoning_content, "string");
  assert.ok(m.reasoning_content.length > 0);
  assert.equal(m.content, "");
  assert.equal(r.usage.completion_tokens_details.reasoning_tokens, r.usage.completion_tokens);
  const s = await drain(await r1client.chat.completions.create({ messages: user("What is 2+2?"),
    max_tokens: 10, temperature: 0, stream: true }));
  assert.equal(s.reasoning, m.reasoning_content);
  assert.equal(s.content, "");
  // JSON mode closes the think block first: the answer is content.
  const j = await r1client.chat.completions.create({ messages: user("JSON please"), max_tokens: 30,
    response_format: { type: "json_object" } });
  assert.equal(j.choices[0].message.reasoning_content, "");
  JSON.parse(j.choices[0].message.content);
});

test("raw completions", async () => {
  const c = await client.completions.create({ model: "x", prompt: "Once upon a time", max_tokens: 5, temperature: 0 });
  assert.equal(c.object, "text_completion");
  assert.equal(typeof c.choices[0].text, "string");
  assert.equal(c.usage.completion_tokens, 5);
  const s = await drain(await client.completions.create({ prompt: "Once upon a time", max_tokens: 5,
    temperature: 0, stream: true }));
  assert.equal(s.content, c.choices[0].text);
});

test("concurrent streams all finish, each as it would alone", async () => {
  const prompts = ["one", "two two", "three three three", "four"].map((p) => `Say ${p} please.`);
  const solo = [];
  for (const p of prompts)
    solo.push((await client.chat.completions.create({ messages: user(p), max_tokens: 24, temperature: 0 })).choices[0].message.content);
  const together = await Promise.all(prompts.map(async (p) => drain(await client.chat.completions.create(
    { messages: user(p), max_tokens: 24, temperature: 0, stream: true }))));
  together.forEach((t, i) => assert.equal(t.content, solo[i], `stream ${i}`));
});

test("speculative decoding (--spec mtp): the same greedy answers, drafts in /metrics", async () => {
  // The same model with an MTP module, served with and without drafting.
  const dir = makeModel(path.join(tmp, "tiny-v3-mtp"), "v3", ["--mtp"]);
  const common = ["-m", dir, "--parallel", "2", "--ctx-size", "512"];
  const [spec, off] = await Promise.all([
    startServer(DSINFER, [...common, "--spec", "mtp", "--draft", "2"]),
    startServer(DSINFER, [...common, "--spec", "off"])]);
  try {
    assert.match(spec.stderr(), /speculative decoding, 2 MTP drafts per step/);
    const [cs, co] = [spec, off].map((s) => new OpenAI({ baseURL: s.url + "/v1", apiKey: "x", maxRetries: 0 }));
    const req = { messages: user("Tell me a story."), max_tokens: 24, temperature: 0 };
    const plain = await co.chat.completions.create(req);
    const drafted = await cs.chat.completions.create(req);
    assert.equal(drafted.choices[0].message.content, plain.choices[0].message.content);
    assert.equal(drafted.choices[0].finish_reason, plain.choices[0].finish_reason);
    assert.equal(drafted.usage.completion_tokens, plain.usage.completion_tokens);
    // Two streams at once share the drafting server's batch.
    const prompts = ["Say one please.", "Say two two please."];
    const solo = [];
    for (const p of prompts)
      solo.push((await co.chat.completions.create({ ...req, messages: user(p) })).choices[0].message.content);
    const streams = await Promise.all(prompts.map(async (p) => drain(await cs.chat.completions.create(
      { ...req, messages: user(p), stream: true }))));
    streams.forEach((s, i) => assert.equal(s.content, solo[i], `stream ${i}`));
    const m = await metrics(spec.url);
    assert.ok(m["dsinfer_spec_draft_tokens_total"] > 0, "drafts were made");
    assert.ok(m["dsinfer_spec_accepted_tokens_total"] <= m["dsinfer_spec_draft_tokens_total"]);
    assert.equal((await metrics(off.url))["dsinfer_spec_draft_tokens_total"], 0);
  } finally {
    stopping.push(spec.stop(), off.stop());  // exit codes checked at the end
  }
});

test("a client that disconnects frees its slot", async () => {
  const stream = await client.chat.completions.create({ messages: user("Go on and on."), max_tokens: 500,
    temperature: 1, stream: true });
  let n = 0;
  for await (const _ of stream) if (++n === 3) break;  // leaving the loop aborts the request
  let active = -1;
  for (let i = 0; i < 50; ++i) {
    active = (await metrics(v3.url))["dsinfer_active_slots"];
    if (active === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(active, 0);
  const after = await client.chat.completions.create({ messages: user("Still there?"), max_tokens: 3 });
  assert.equal(after.choices.length, 1);
});

test("auth failures are 401 with an OpenAI error body", async () => {
  for (const apiKey of ["wrong-key", "x"]) {
    const bad = new OpenAI({ baseURL: v3.url + "/v1", apiKey, maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ messages: user("hi") }), (e) => {
      assert.equal(e.status, 401);
      assert.equal(e.error.type, "authentication_error");
      return true;
    });
  }
  const raw = await fetch(v3.url + "/v1/models");
  assert.equal(raw.status, 401);
  assert.ok((await raw.json()).error.message);
});

test("bad inputs are 4xx, never a crash", async () => {
  const bad = async (body, status = 400) => {
    await assert.rejects(client.chat.completions.create(body), (e) => {
      assert.equal(e.status, status, JSON.stringify(body));
      assert.ok(e.error?.message || e.message);
      return true;
    });
  };
  await bad({ messages: [] });
  await bad({ messages: [{ role: "wizard", content: "hi" }] });
  await bad({ messages: [{ role: "", content: "hi" }] });
  await bad({ messages: [{ role: "user", content: 42 }] });
  await bad({ messages: user("hi"), temperature: "warm" });
  await bad({ messages: user("hi"), max_tokens: -5 });
  await bad({ messages: user("hi"), max_tokens: 100000 });
  await bad({ messages: user("hi"), tool_choice: "required" });
  await bad({ messages: user("hi"), response_format: { type: "yaml" } });
  const words = Array.from({ length: 1500 }, (_, i) => `w${i}`).join(" ");
  await assert.rejects(client.chat.completions.create({ messages: user(words) }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, "context_length_exceeded");
    return true;
  });
  const post = (body, headers = {}) => fetch(v3.url + "/v1/chat/completions", { method: "POST", body,
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json", ...headers } });
  for (const body of ["{not json", "", "[]", "null", "{\"messages\": [{\"role\": \"user\", \"content\": \"\\ud800\"}]}"]) {
    const r = await post(body);
    assert.ok(r.status >= 400 && r.status < 500, `${body}: ${r.status}`);
    assert.ok((await r.json()).error.message);
  }
  const big = await post(JSON.stringify({ messages: user("x".repeat(70 * 1024)) }));
  assert.equal(big.status, 413);
  const nf = await fetch(v3.url + "/v1/nothing", { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(nf.status, 404);
  assert.ok((await nf.json()).error);
  assert.equal((await fetch(v3.url + "/health")).status, 200);
});
