// The routes that report on the server itself: GET /health (liveness; the
// plumbing lets it through without the API key) and GET /metrics (Prometheus
// text format).
#include "server/routes.h"

namespace entropix::server {

namespace {

// The loop's counters; zeros while a model switch has no loop.
LoopStats loop_stats(const ServerContext& ctx) {
  const auto m = ctx.models.get();
  return m ? m->loop.stats() : LoopStats{};
}

}  // namespace

void register_status_routes(RouteTable& routes, ServerContext& ctx) {
  routes.get("/health", [&ctx](const httplib::Request&, httplib::Response& res) {
    LoopStats s = loop_stats(ctx);
    send_json(res, ctx.shutting_down ? 503 : 200,
              {{"status", ctx.shutting_down ? "shutting_down" : "ok"}, {"active", s.active}, {"queued", s.queued},
               {"completed", s.completed}, {"cancelled", s.cancelled}});
  });
  routes.get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) {
    const LoopStats s = loop_stats(ctx);
    res.set_content(ctx.metrics.render({s.active, s.queued, s.completed, s.cancelled}), "text/plain; version=0.0.4");
  });
}

}  // namespace entropix::server
