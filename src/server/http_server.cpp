#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "core/error.h"
#include "model/weights.h"
#include "runtime/thread_pool.h"
#include "server/api_error.h"
#include "server/metrics.h"
#include "server/output_constraint.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace ds::server {

using nlohmann::json;

namespace {

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_hex(size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s(n, '0');
  for (auto& c : s) c = hex[rng() & 15];
  return s;
}

bool same_key(const std::string& a, const std::string& b) {
  // Constant time in the length of the expected key.
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < b.size(); ++i) diff |= unsigned(a[i % (a.size() ? a.size() : 1)] ^ b[i]);
  return diff == 0 && !a.empty();
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt},
          {"completion_tokens", u.completion},
          {"total_tokens", u.prompt + u.completion},
          {"prompt_tokens_details", {{"cached_tokens", u.cached}}},
          {"completion_tokens_details", {{"reasoning_tokens", u.reasoning}}},
          {"prompt_cache_hit_tokens", u.cached},
          {"prompt_cache_miss_tokens", u.prompt - u.cached}};
}

json bytes_json(const std::string& s) {
  json a = json::array();
  for (unsigned char c : s) a.push_back(int(c));
  return a;
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(e.body()), "application/json");
}

}  // namespace

struct HttpServer::Impl {
  Impl(const Model& m, const Tokenizer& t, const ChatTemplate& tm, ServerOptions o,
       SchedulerOptions so, RequestLimits l)
      : model(m),
        tok(t),
        opts(std::move(o)),
        table(TokenTable::build(t, m.config.vocab_size)),
        pool(ThreadPool::default_threads()),
        sched(m, t, pool, table, so, metrics),
        builder(t, tm, l) {}

  const Model& model;
  const Tokenizer& tok;
  ServerOptions opts;
  TokenTable table;
  Metrics metrics;
  ThreadPool pool;
  Scheduler sched;
  RequestBuilder builder;
  httplib::Server svr;
  std::atomic<bool> shutting_down{false};
  std::atomic<uint64_t> next_id{1};

  void routes();
  void generate(const httplib::Request& req, httplib::Response& res, bool chat);
  json logprobs_chat(const std::vector<TokenLogprob>& lps) const;
  json logprobs_completion(const std::vector<TokenLogprob>& lps) const;
};

json HttpServer::Impl::logprobs_chat(const std::vector<TokenLogprob>& lps) const {
  json content = json::array();
  for (const TokenLogprob& lp : lps) {
    const std::string t = tok.token_bytes(lp.token, false);
    json top = json::array();
    for (const auto& [id, p] : lp.top) {
      const std::string s = tok.token_bytes(id, false);
      top.push_back({{"token", s}, {"logprob", p}, {"bytes", bytes_json(s)}});
    }
    content.push_back(
        {{"token", t}, {"logprob", lp.logprob}, {"bytes", bytes_json(t)}, {"top_logprobs", top}});
  }
  return content;
}

json HttpServer::Impl::logprobs_completion(const std::vector<TokenLogprob>& lps) const {
  json tokens = json::array(), token_lp = json::array(), top = json::array();
  for (const TokenLogprob& lp : lps) {
    tokens.push_back(tok.token_bytes(lp.token, false));
    token_lp.push_back(lp.logprob);
    json m = json::object();
    for (const auto& [id, p] : lp.top) m[tok.token_bytes(id, false)] = p;
    top.push_back(m);
  }
  return {{"tokens", tokens}, {"token_logprobs", token_lp}, {"top_logprobs", top}};
}

// The state of one response while it is written, shared with httplib's content provider.
struct Reply {
  std::shared_ptr<RequestState> state;
  ApiRequest req;
  bool chat = true;
  std::string id, model;
  int64_t created = 0;
  bool sent_role = false;
  std::string content, reasoning;
  std::vector<TokenLogprob> logprobs;
  std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
};

void HttpServer::Impl::generate(const httplib::Request& req, httplib::Response& res, bool chat) {
  const std::string route = chat ? "/v1/chat/completions" : "/v1/completions";
  if (shutting_down)
    throw ApiError(503, "the server is shutting down", "server_error", "", "server_shutting_down");
  json body;
  try {
    body = json::parse(req.body);
  } catch (const json::exception& e) {
    throw ApiError(400, cat("malformed JSON in the request body: ", e.what()));
  }
  auto reply = std::make_shared<Reply>();
  reply->req = chat ? builder.chat(body) : builder.completion(body);
  reply->chat = chat;
  reply->model = opts.model_name;
  reply->created = unix_now();
  reply->id = (chat ? "chatcmpl-" : "cmpl-") + random_hex(24);
  reply->state = sched.submit(reply->req.gen);
  if (!reply->state)
    throw ApiError(503, "the server is busy (request queue full) or shutting down", "server_error",
                   "", "server_overloaded");
  ++metrics.open_requests;
  auto release = [this, reply](bool success) {
    if (!success) reply->state->cancelled = true;  // the client went away
    --metrics.open_requests;
  };

  if (reply->req.stream) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, reply](size_t, httplib::DataSink& sink) {
          Reply& r = *reply;
          auto send = [&](const json& j) {
            const std::string s = "data: " + dump(j) + "\n\n";
            if (!sink.write(s.data(), s.size())) {
              r.state->cancelled = true;
              return false;
            }
            r.last_write = std::chrono::steady_clock::now();
            return true;
          };
          auto chunk = [&](json delta, json finish, json logprobs) {
            json choice;
            if (r.chat) {
              choice = {{"index", 0},
                        {"delta", std::move(delta)},
                        {"logprobs", logprobs},
                        {"finish_reason", finish}};
            } else {
              choice = {{"index", 0},
                        {"text", delta.value("content", "")},
                        {"logprobs", logprobs},
                        {"finish_reason", finish}};
            }
            return json{{"id", r.id},
                        {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
                        {"created", r.created},
                        {"model", r.model},
                        {"system_fingerprint", "dsinfer"},
                        {"choices", json::array({choice})}};
          };
          if (r.chat && !r.sent_role) {
            r.sent_role = true;
            if (!send(chunk({{"role", "assistant"}, {"content", ""}}, nullptr, nullptr)))
              return false;
          }
          std::vector<Delta> ds;
          const bool done = r.state->wait(ds, std::chrono::milliseconds(1000));
          for (Delta& d : ds) {
            json lp = nullptr;
            if (r.req.logprobs && !d.logprobs.empty())
              lp = r.chat ? json{{"content", logprobs_chat(d.logprobs)}}
                          : logprobs_completion(d.logprobs);
            if (!d.reasoning.empty()) {
              if (!send(chunk({{"reasoning_content", d.reasoning}}, nullptr,
                              d.content.empty() ? lp : json())))
                return false;
              if (d.content.empty()) continue;
              lp = nullptr;
            }
            if (!d.content.empty() || !lp.is_null())
              if (!send(chunk({{"content", d.content}}, nullptr, lp))) return false;
          }
          if (!done) {
            // A comment line now and then: finds clients that went away while nothing is
            // generated (queued, or a long prefill).
            if (ds.empty() &&
                std::chrono::steady_clock::now() - r.last_write > std::chrono::seconds(2)) {
              static const char kPing[] = ": ping\n\n";
              if (!sink.write(kPing, sizeof(kPing) - 1)) {
                r.state->cancelled = true;
                return false;
              }
              r.last_write = std::chrono::steady_clock::now();
            }
            return true;
          }
          RequestState& st = *r.state;
          if (!st.error.empty()) {
            send(ApiError(500, st.error, "server_error").body());
          } else {
            if (r.chat && !st.tool_calls.empty()) {
              json calls = json::array();
              for (size_t i = 0; i < st.tool_calls.size(); ++i)
                calls.push_back({{"index", i},
                                 {"id", "call_" + random_hex(24)},
                                 {"type", "function"},
                                 {"function",
                                  {{"name", st.tool_calls[i].name},
                                   {"arguments", st.tool_calls[i].arguments}}}});
              if (!send(chunk({{"tool_calls", calls}}, nullptr, nullptr))) return false;
            }
            if (!send(chunk(json::object(), st.finish_reason, nullptr))) return false;
            if (r.req.include_usage) {
              json u = chunk(json::object(), nullptr, nullptr);
              u["choices"] = json::array();
              u["usage"] = usage_json(st.usage);
              if (!send(u)) return false;
            }
          }
          static const char kDone[] = "data: [DONE]\n\n";
          sink.write(kDone, sizeof(kDone) - 1);
          sink.done();
          return true;
        },
        release);
    return;
  }

  res.set_chunked_content_provider(
      "application/json",
      [this, reply](size_t, httplib::DataSink& sink) {
        Reply& r = *reply;
        std::vector<Delta> ds;
        const bool done = r.state->wait(ds, std::chrono::milliseconds(1000));
        for (Delta& d : ds) {
          r.content += d.content;
          r.reasoning += d.reasoning;
          for (auto& lp : d.logprobs) r.logprobs.push_back(std::move(lp));
        }
        if (!done) {
          // Leading whitespace is valid JSON: it finds clients that went away.
          if (std::chrono::steady_clock::now() - r.last_write > std::chrono::seconds(2)) {
            if (!sink.write(" ", 1)) {
              r.state->cancelled = true;
              return false;
            }
            r.last_write = std::chrono::steady_clock::now();
          }
          return true;
        }
        const RequestState& st = *r.state;
        json out;
        if (!st.error.empty()) {
          out = ApiError(500, st.error, "server_error").body();
        } else {
          json choice;
          json lp = nullptr;
          if (r.chat) {
            if (r.req.logprobs) lp = {{"content", logprobs_chat(r.logprobs)}};
            json msg = {{"role", "assistant"}};
            msg["content"] =
                (st.tool_calls.empty() || !r.content.empty()) ? json(r.content) : json();
            if (r.req.gen.split_reasoning && (!r.reasoning.empty() || r.req.gen.opens_reasoning))
              msg["reasoning_content"] = r.reasoning;
            if (!st.tool_calls.empty()) {
              json calls = json::array();
              for (const ToolCall& c : st.tool_calls)
                calls.push_back({{"id", "call_" + random_hex(24)},
                                 {"type", "function"},
                                 {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
              msg["tool_calls"] = calls;
            }
            choice = {{"index", 0},
                      {"message", msg},
                      {"logprobs", lp},
                      {"finish_reason", st.finish_reason}};
          } else {
            if (r.req.logprobs) lp = logprobs_completion(r.logprobs);
            choice = {{"index", 0},
                      {"text", r.content},
                      {"logprobs", lp},
                      {"finish_reason", st.finish_reason}};
          }
          out = {{"id", r.id},
                 {"object", r.chat ? "chat.completion" : "text_completion"},
                 {"created", r.created},
                 {"model", r.model},
                 {"system_fingerprint", "dsinfer"},
                 {"choices", json::array({choice})},
                 {"usage", usage_json(st.usage)}};
        }
        const std::string s = dump(out);
        if (!sink.write(s.data(), s.size())) return false;
        sink.done();
        return true;
      },
      release);
}

void HttpServer::Impl::routes() {
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (opts.api_key.empty() || req.path.rfind("/v1", 0) != 0)
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string h = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (h.rfind(prefix, 0) == 0 && same_key(h.substr(prefix.size()), opts.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(401,
                             h.empty() ? "missing API key: send 'Authorization: Bearer KEY'"
                                       : "invalid API key",
                             "authentication_error", "", "invalid_api_key"));
    metrics.count_request(req.path, 401);
    return httplib::Server::HandlerResponse::Handled;
  });
  auto guarded = [this](const std::string& route, auto fn) {
    return [this, route, fn](const httplib::Request& req, httplib::Response& res) {
      try {
        if (metrics.open_requests >= opts.max_connections)
          throw ApiError(503, "too many concurrent requests", "server_error", "",
                         "server_overloaded");
        fn(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      } catch (const std::exception& e) {
        send_error(res, ApiError(500, cat("internal error: ", e.what()), "server_error"));
      }
      // cpp-httplib leaves the status at -1 until it sends a handler's response, which it
      // then sends as 200.
      metrics.count_request(route, res.status == -1 ? 200 : res.status);
    };
  };
  svr.Post("/v1/chat/completions", guarded("/v1/chat/completions", [this](const auto& q, auto& r) {
             generate(q, r, true);
           }));
  svr.Post("/v1/completions",
           guarded("/v1/completions", [this](const auto& q, auto& r) { generate(q, r, false); }));
  auto models = [this](const httplib::Request&, httplib::Response& res) {
    json m = {
        {"id", opts.model_name}, {"object", "model"}, {"created", 0}, {"owned_by", "dsinfer"}};
    res.set_content(dump({{"object", "list"}, {"data", json::array({m})}}), "application/json");
  };
  svr.Get("/v1/models", guarded("/v1/models", models));
  svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (shutting_down) {
      res.status = 503;
      res.set_content(R"({"status":"shutting_down"})", "application/json");
    } else {
      res.set_content(R"({"status":"ok"})", "application/json");
    }
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(sched.options().n_slots, int64_t(sched.options().cache_bytes)),
                    "text/plain; version=0.0.4");
  });
  svr.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg = cat("no route for ", req.method, " ", req.path);
    std::string type = "invalid_request_error";
    if (res.status == 413) msg = cat("the request body exceeds ", opts.max_body_bytes, " bytes");
    if (res.status == 400) msg = "malformed HTTP request";
    if (res.status == 404) type = "not_found_error";
    send_error(res, ApiError(res.status, msg, type));
  });
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        send_error(res, ApiError(500, "internal error", "server_error"));
      });
}

HttpServer::HttpServer(const Model& model, const Tokenizer& tok, const ChatTemplate& tmpl,
                       ServerOptions opts, SchedulerOptions sched, RequestLimits limits)
    : impl_(std::make_unique<Impl>(model, tok, tmpl, std::move(opts), sched, limits)) {
  Impl& s = *impl_;
  s.svr.set_payload_max_length(s.opts.max_body_bytes);
  s.svr.set_keep_alive_timeout(2);
  s.svr.set_read_timeout(10);
  s.svr.set_write_timeout(10);
  const int threads = s.opts.max_connections + 4;
  s.svr.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  s.routes();
}

HttpServer::~HttpServer() {
  impl_->svr.stop();
  impl_->sched.stop();
}

int HttpServer::bind() {
  Impl& s = *impl_;
  if (s.opts.port == 0) {
    const int p = s.svr.bind_to_any_port(s.opts.host);
    if (p < 0) throw Error(cat("cannot bind to ", s.opts.host));
    return p;
  }
  if (!s.svr.bind_to_port(s.opts.host, s.opts.port))
    throw Error(cat("cannot listen on ", s.opts.host, ":", s.opts.port,
                    " (address in use or not available)"));
  return s.opts.port;
}

void HttpServer::serve() {
  impl_->svr.listen_after_bind();
}

void HttpServer::shutdown() {
  Impl& s = *impl_;
  if (s.shutting_down.exchange(true)) return;
  s.sched.drain();
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(int64_t(s.opts.drain_seconds * 1000));
  while (!s.sched.idle() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  s.sched.cancel_all();
  for (int i = 0; i < 200 && !s.sched.idle(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  // Let handlers write their last bytes before the listener closes.
  for (int i = 0; i < 300 && s.metrics.open_requests > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  s.svr.stop();
}

}  // namespace ds::server
