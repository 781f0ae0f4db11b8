#include "scribe_settings.h"

namespace scribe {

delivery::ShipperOptions shipper_options(const Settings& st, const std::vector<Endpoint>& servers) {
  delivery::ShipperOptions o;
  o.exit_deadline = delivery::Millis(st.exit_timeout_ms);
  o.queue_bytes = st.queue_bytes;
  o.batch_lines = st.batch_lines;
  o.flush_interval = delivery::Millis(st.flush_ms);
  o.retry_min = delivery::Millis(st.retry_min_ms);
  o.retry_max = delivery::Millis(st.retry_max_ms);
  o.spool_dir = st.spool_dir;
  o.spool_name = spool_name_for(servers);
  o.spool_max_bytes = st.spool_max;
  return o;
}

}  // namespace scribe
