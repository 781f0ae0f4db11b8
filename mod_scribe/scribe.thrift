// The Scribe log-collection interface, as spoken by scribed and by
// t/collector/scribe_collector.py. The real Scribe service extends fb303's
// FacebookService; a scribed answers Log() on its own, so this one stands
// alone. mod_scribe generates its C++ client from this file at build time.

namespace cpp scribe.gen
namespace py scribe

enum ResultCode {
  OK,
  TRY_LATER
}

struct LogEntry {
  1: string category,
  2: string message
}

service scribe {
  ResultCode Log(1: list<LogEntry> messages);
}
