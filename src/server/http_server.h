// The HTTP front end of `dsinfer serve`: OpenAI- and DeepSeek-compatible routes over
// cpp-httplib, SSE streaming, API-key auth, limits, metrics, graceful shutdown.
#pragma once

#include <memory>
#include <string>

#include "server/api_request.h"
#include "server/scheduler.h"

namespace ds {
class Model;
class Tokenizer;
class ChatTemplate;
}  // namespace ds

namespace ds::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;         // 0: any free port
  std::string api_key;     // non-empty: every /v1 route needs "Authorization: Bearer KEY"
  std::string model_name;  // listed by /v1/models
  size_t max_body_bytes = size_t(8) << 20;
  int max_connections = 64;   // concurrent HTTP requests; more get 503
  double drain_seconds = 30;  // on shutdown, running requests get this long to finish
};

class HttpServer {
 public:
  /// References must outlive the server. Starts the scheduler's thread.
  HttpServer(const Model& model, const Tokenizer& tok, const ChatTemplate& tmpl, ServerOptions opts,
             SchedulerOptions sched, RequestLimits limits);
  ~HttpServer();

  /// Binds the listening socket; returns the port. Throws ds::Error when it cannot.
  int bind();
  /// Answers requests until shutdown(); blocks.
  void serve();
  /// Stops taking requests, lets running ones finish (up to drain_seconds), cancels the rest
  /// and makes serve() return. Safe to call from another thread.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ds::server
