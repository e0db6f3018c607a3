// The supervisor's tick: worker liveness (a Ping per worker per tick), the systemd watchdog
// and the status line.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "supervisor/supervisor.hpp"

namespace echod {
namespace {

constexpr auto kStatusInterval = std::chrono::seconds(5);

}  // namespace

void Supervisor::on_tick() {
  bool alive = check_liveness();
  if (watchdog_interval_.count() > 0 && alive) notifier_.watchdog();
  std::string status = status_text();
  if (status != last_status_) {
    last_status_ = status;
    notifier_.status(status);
  }
}

// Every tick, watchdog or not: the scrape is answered by the HTTP server's threads and the
// worker's counters read fine while it is stuck, so this is the only way a stuck worker shows.
// With the watchdog, no heartbeat is older than a tick (a quarter of the period), so a wedged
// worker stops WATCHDOG=1 well within half.
bool Supervisor::check_liveness() {
  const bool watchdog = watchdog_interval_.count() > 0;
  const auto now = Clock::now();
  bool alive = true;
  for (auto* list : {&workers_, &retiring_}) {
    for (WorkerSlot& slot : *list) {
      const WorkerStatus& status = slot.worker->status();
      if (status.finished.load()) continue;
      const bool answered = status.processed_commands.load() >= slot.ping;
      const auto silent_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - slot.pinged).count();
      const unsigned index = slot.worker->index();
      if (!answered) {
        alive = false;
        std::uint64_t suppressed = 0;  // ticks: not worth reporting
        if (watchdog) {
          // systemd restarts echod within the period: every tick until then.
          spdlog::warn("worker {} has not answered for {} ms; withholding the watchdog ping", index,
                       silent_ms);
        } else if (slot.silence_log.allow(now, suppressed)) {
          // Once when it stops answering, then once a minute while it does not.
          spdlog::warn("worker {} has not answered for {} ms", index, silent_ms);
        }
      } else {
        if (!slot.responsive) {
          spdlog::info("worker {} answers again (its last ping waited up to {} ms)", index,
                       silent_ms);
          slot.silence_log = LogLimiter(kSilenceLogInterval);
        }
        // A wedged worker gets no new pings piling up in its queue.
        slot.ping = slot.worker->post(Ping{});
        slot.pinged = now;
      }
      if (answered != slot.responsive) {
        slot.responsive = answered;
        metrics_->set_responsive(status, answered);
      }
    }
  }
  return alive;
}

Supervisor::Clock::duration Supervisor::tick_interval() const {
  if (watchdog_interval_.count() > 0) {
    return std::min<Clock::duration>(watchdog_interval_ / 4, kStatusInterval);
  }
  return kStatusInterval;
}

}  // namespace echod
