// Maps the delivery machinery's message levels onto httpd's error-log
// levels. Glue only. The ap_log_error() call itself stays in each module:
// APLOG_MARK carries the calling module's log index.
#pragma once

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "http_log.h"
// clang-format on

#include "delivery.h"

namespace delivery {

inline int aplog_level(Level level) {
  switch (level) {
    case Level::Error:
      return APLOG_ERR;
    case Level::Warning:
      return APLOG_WARNING;
    case Level::Notice:
      return APLOG_NOTICE;
    case Level::Info:
      return APLOG_INFO;
    case Level::Debug:
      return APLOG_DEBUG;
  }
  return APLOG_ERR;
}

}  // namespace delivery
