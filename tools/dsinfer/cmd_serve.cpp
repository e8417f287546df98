// `dsinfer serve`: the OpenAI- and DeepSeek-compatible HTTP server (docs/server.md).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <thread>

#include "cache_options.h"
#include "command.h"
#include "core/error.h"
#include "io/embedded_model.h"
#include "load_options.h"
#include "model/weights.h"
#include "model_loading.h"
#include "sampling_options.h"
#include "server/http_server.h"

namespace ds::cli {
namespace {

struct Opts {
  std::string model, host = "127.0.0.1", api_key;
  int port = 8080;
  int parallel = 4;
  int64_t ctx = 4096;
  CacheType cache_type;
  int64_t cache_ram_mib = 512;
  int64_t max_tokens = 4096;
  int64_t max_body_kib = 8192;
  int max_connections = 64;
  int64_t prefill_chunk = 64;
  double drain_s = 30;
  SpecOptions spec;
};

std::string model_name(const std::string& path) {
  if (path.empty()) {
    const EmbeddedModel* e = embedded_model();
    return e ? e->name : "default";
  }
  std::filesystem::path p(path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // trailing slash
  return p.filename().string();
}

int serve(const Opts& o) {
  // SIGTERM / SIGINT are taken by one thread with sigwait (blocked everywhere else).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  LoadedModel lm = load_model(o.model, false);
  std::unique_ptr<ChatTemplate> builtin;
  const ChatTemplate* tmpl = lm.chat_template.get();
  if (!tmpl) {
    builtin = std::make_unique<ChatTemplate>(ChatTemplate::builtin(lm.model->config.model_type));
    builtin->set_special_token("bos_token", lm.tokenizer->bos_token());
    builtin->set_special_token("eos_token", lm.tokenizer->eos_token());
    tmpl = builtin.get();
  }
  const int64_t ctx = std::min<int64_t>(o.ctx, lm.model->config.max_position_embeddings);

  server::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.api_key = o.api_key;
  so.model_name = model_name(o.model);
  so.max_body_bytes = size_t(o.max_body_kib) << 10;
  so.max_connections = o.max_connections;
  so.drain_seconds = o.drain_s;
  server::SchedulerOptions sched;
  sched.n_slots = o.parallel;
  sched.ctx_size = ctx;
  sched.cache_type = resolve_cache_type(o.cache_type, *lm.model);
  sched.cache_bytes = size_t(o.cache_ram_mib) << 20;
  sched.prefill_chunk = o.prefill_chunk;
  sched.spec_draft = o.spec.drafts_for(*lm.model);
  sched.spec_min_accept = o.spec.min_accept_for(*lm.model, sched.spec_draft);
  server::RequestLimits limits;
  limits.ctx_size = ctx;
  limits.max_tokens = o.max_tokens;

  server::HttpServer http(*lm.model, *lm.tokenizer, *tmpl, so, sched, limits);
  const int port = http.bind();
  // The drafting line comes first: a client that waits for the address line has then seen
  // every start-up line.
  if (sched.spec_draft > 0)
    std::fprintf(stderr, "dsinfer serve: speculative decoding, %d MTP draft%s per step%s\n",
                 sched.spec_draft, sched.spec_draft == 1 ? "" : "s",
                 sched.spec_min_accept > 0 ? " (stops for requests whose drafts do not pay)" : "");
  std::fprintf(stderr,
               "dsinfer serve: model '%s' on http://%s:%d (%d slots, context %lld, %s cache)\n",
               so.model_name.c_str(), o.host.c_str(), port, o.parallel, (long long)ctx,
               cache_type_name(sched.cache_type));
  std::fflush(stderr);
  std::thread signals([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (sig == 0) return;
    std::fprintf(stderr, "dsinfer serve: signal %d, finishing running requests\n", sig);
    http.shutdown();
  });
  http.serve();
  // serve() returned without a signal (listener failed): wake the signal thread.
  pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  std::fprintf(stderr, "dsinfer serve: stopped\n");
  return 0;
}

const Registrar reg{
    {"serve", "Serve the OpenAI / DeepSeek chat API over HTTP",
     [](CLI::App& app) -> std::function<int()> {
       auto o = std::make_shared<Opts>();
       app.add_option("-m,--model", o->model, "Model directory (default: the embedded model)");
       app.add_option("--host", o->host, "Address to bind (default 127.0.0.1: this machine only)");
       app.add_option("--port", o->port, "TCP port (0: any free port)")
           ->check(CLI::Range(0, 65535));
       app.add_option("--parallel", o->parallel, "Requests generated at once (slots)")
           ->check(CLI::Range(1, 256));
       app.add_option("-c,--ctx-size", o->ctx, "Context size of each slot in tokens")
           ->check(CLI::PositiveNumber);
       add_cache_type_option(app, o->cache_type);
       add_file_loading_options(app);
       app.add_option("--api-key", o->api_key, "Require 'Authorization: Bearer KEY' on /v1 routes");
       app.add_option("--cache-ram", o->cache_ram_mib, "Prefix-cache budget in MiB (0: off)")
           ->check(CLI::NonNegativeNumber);
       app.add_option("--max-tokens", o->max_tokens, "Largest max_tokens a request may ask for")
           ->check(CLI::PositiveNumber);
       app.add_option("--max-body", o->max_body_kib, "Largest request body in KiB")
           ->check(CLI::PositiveNumber);
       app.add_option("--max-connections", o->max_connections,
                      "Concurrent HTTP requests (more get 503)")
           ->check(CLI::Range(1, 4096));
       app.add_option("--prefill-chunk", o->prefill_chunk,
                      "Prompt tokens per slot and step while others decode")
           ->check(CLI::Range(1, 256));
       app.add_option("--drain-timeout", o->drain_s,
                      "Seconds running requests get to finish on SIGTERM")
           ->check(CLI::NonNegativeNumber);
       add_spec_options(app, o->spec);
       return [o] { return serve(*o); };
     },
     30}};

}  // namespace
}  // namespace ds::cli
