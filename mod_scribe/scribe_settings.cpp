#include "scribe_settings.h"

namespace scribe {

delivery::ShipperOptions shipper_options(const Settings& st, const std::vector<Endpoint>& servers) {
  delivery::ShipperOptions o;
  o.name = "scribe collector" + std::string(servers.size() > 1 ? "s " : " ") + servers_key(servers);
  o.exit_deadline = delivery::Millis(st.exit_timeout_ms);
  o.queue_bytes = st.queue_bytes;
  o.batch_lines = st.batch_lines;
  o.batch_bytes = st.batch_bytes;
  o.flush_interval = delivery::Millis(st.flush_ms);
  o.retry_min = delivery::Millis(st.retry_min_ms);
  o.retry_max = delivery::Millis(st.retry_max_ms);
  o.failover.try_later_answers = static_cast<unsigned>(st.try_later_answers);
  o.failover.try_later_for = delivery::Millis(st.try_later_ms);
  o.replay_lines_per_second = st.replay_rate;
  o.spool_dir = st.spool_dir;
  o.spool_name = spool_name_for(servers);
  o.spool_max_bytes = st.spool_max;
  return o;
}

}  // namespace scribe
