// Continuous batching: a fixed set of slots, each a Session; requests join and leave the
// running batch at token boundaries. Every step runs the next token of each decoding slot and
// a chunk of each prefilling slot's prompt in ONE forward_multi pass, so streams share the
// weights' memory traffic and a long prompt never stalls the others for more than a chunk.
// With speculative decoding a decoding slot adds its MTP drafts to that pass.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "model/forward.h"
#include "runtime/sampler.h"
#include "server/output_constraint.h"
#include "server/tool_calls.h"

namespace ds {
class Model;
class Tokenizer;
class ThreadPool;
}  // namespace ds

namespace ds::server {

class Metrics;

/// What to generate, after the HTTP layer has validated and tokenized a request.
struct GenRequest {
  std::vector<int32_t> prompt;
  int64_t max_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop;
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logits before sampling
  int top_logprobs = -1;                              // −1: no logprobs
  bool opens_reasoning = false;     // the prompt opened a think block: output starts as reasoning
  bool split_reasoning = false;     // route <think> … </think> to reasoning (chat)
  bool detect_tool_calls = false;   // parse a tool-call block into tool_calls
  std::vector<Segment> constraint;  // empty: unconstrained
  bool constraint_is_tool_call = false;  // the constraint writes a tool call
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely alternatives
};

/// Text that became final in one step.
struct Delta {
  std::string reasoning, content;
  std::vector<TokenLogprob> logprobs;
};

struct Usage {
  int64_t prompt = 0, cached = 0, completion = 0, reasoning = 0;
};

/// One request's progress, shared by the scheduler (producer) and the HTTP handler (consumer).
class RequestState {
 public:
  /// Set by the consumer when the client went away; the scheduler frees the slot next step.
  std::atomic<bool> cancelled{false};

  void push(Delta d);
  void finish(std::string reason, std::vector<ToolCall> calls, Usage usage);
  void fail(std::string message);

  /// Waits until output is available or the request finished, at most `timeout`; moves the
  /// pending deltas into `out`. Returns true when the request has finished (and `out` holds
  /// its last deltas).
  bool wait(std::vector<Delta>& out, std::chrono::milliseconds timeout);

  // Valid once wait() returned true.
  std::string finish_reason;  // "stop", "length", "tool_calls", "cancelled"
  std::vector<ToolCall> tool_calls;
  Usage usage;
  std::string error;                       // non-empty: generation failed
  double queued_s = 0, first_token_s = 0;  // seconds from submission

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Delta> pending_;
  bool done_ = false;
};

struct SchedulerOptions {
  int n_slots = 4;
  int64_t ctx_size = 4096;
  CacheType cache_type;  // element type of each slot's KV cache (unset: the model's default)
  size_t cache_bytes = size_t(512) << 20;
  int64_t prefill_chunk = 64;  // prompt tokens per slot and step while other slots decode
  size_t max_queue = 256;      // waiting requests beyond which submit() refuses
  /// Speculative decoding with the model's MTP module: tokens drafted per step and decoding
  /// slot (0: off; ignored without an MTP module). Each drafting slot puts its token and its
  /// drafts into the step's batch; the accepted ones are emitted, the rest rolled back.
  int spec_draft = 0;
  /// When > 0: a request stops drafting once at least 32 of its drafts were verified and
  /// fewer than this share accepted (`--spec auto` sets the cost model's break-even).
  double spec_min_accept = 0;
};

class Scheduler {
 public:
  Scheduler(const Model& model, const Tokenizer& tok, ThreadPool& pool, const TokenTable& table,
            SchedulerOptions opts, Metrics& metrics);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Queues a request; returns null when the queue is full or the server is draining. The
  /// prompt must be non-empty and shorter than the context (the caller checks).
  std::shared_ptr<RequestState> submit(GenRequest r);
  /// Stops admitting requests; running and queued ones finish.
  void drain();
  /// Cancels every queued and running request.
  void cancel_all();
  /// True when nothing is queued or running.
  bool idle() const;
  /// Ends the worker thread (running requests are cancelled).
  void stop();

  const SchedulerOptions& options() const { return opts_; }

 private:
  struct Slot;
  struct Job {
    GenRequest req;
    std::shared_ptr<RequestState> state;
    std::chrono::steady_clock::time_point submitted;
  };

  void loop();
  void admit(Job job);
  void step();
  void mask_row(const Slot& s, float* logits) const;
  void sample_row(Slot& s, float* logits);
  int64_t verify_row(Slot& s, float* rows);
  void on_token(Slot& s, int32_t token, const float* logits, int64_t pos);
  void finish(Slot& s, const std::string& reason);
  void emit_text(Slot& s, const std::string& text, Delta& d, bool final);

  const Model& model_;
  const Tokenizer& tok_;
  ThreadPool& pool_;
  const TokenTable& table_;
  SchedulerOptions opts_;
  Metrics& metrics_;
  std::vector<int32_t> stop_ids_;
  int32_t tool_calls_begin_ = -1, tool_calls_end_ = -1;

  std::vector<std::unique_ptr<Slot>> slots_;
  struct Impl;
  std::unique_ptr<Impl> impl_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool draining_ = false, stop_ = false;
  std::atomic<int> active_{0};
  std::thread worker_;
};

}  // namespace ds::server
