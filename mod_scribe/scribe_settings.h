// mod_scribe's per-child settings (the Scribe* directives of the main
// server), their defaults and limits, and what they make of a sender: the
// Shipper's options and the Thrift sink's. Pure: no httpd, no Thrift.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "delivery.h"
#include "scribe_target.h"

namespace scribe {

// What each setting may be. httpd sends SIGTERM to children still there 3 s
// into a stop (AH00045): an exit may not take longer than 2.5 s.
struct SettingLimits {
  static constexpr uint64_t kMinSpoolBytes = 4096;
  static constexpr uint64_t kMaxSpoolBytes = 1ull << 50;
  static constexpr uint64_t kMinQueueBytes = 4096;
  static constexpr uint64_t kMaxQueueBytes = 1ull << 40;
  static constexpr uint64_t kMaxBatchLines = 1000000;
  static constexpr uint64_t kMaxFlushMs = 3600000;
  static constexpr uint64_t kMinTimeoutMs = 10;
  static constexpr uint64_t kMaxTimeoutMs = 3600000;
  static constexpr uint64_t kMaxRetryMs = 86400000;
  static constexpr uint64_t kMaxExitTimeoutMs = 2500;
  // A batch of at least one ordinary line; at most what a Thrift frame
  // length can say.
  static constexpr uint64_t kMinBatchBytes = 4096;
  static constexpr uint64_t kMaxBatchBytes = 1ull << 30;
  static constexpr uint64_t kMaxReplayRate = 100000000;
  static constexpr uint64_t kMaxTryLaterAnswers = 1000000;
  static constexpr uint64_t kMaxTryLaterMs = 86400000;
};

struct Settings {
  std::string spool_dir;                   // empty until resolved: DefaultRuntimeDir/scribe-spool
  const char* spool_dir_origin = nullptr;  // "file:line" of ScribeSpoolDir
  uint64_t spool_max = 1ull << 30;         // ScribeSpoolMaxSize
  uint64_t queue_bytes = 8ull << 20;       // ScribeQueueSize
  uint64_t batch_lines = 1000;             // ScribeBatchSize
  // ScribeBatchBytes: well under the 16,384,000-byte frames Thrift >= 0.14
  // servers take.
  uint64_t batch_bytes = 4ull << 20;
  // ScribeReplayRate, lines a second per child (0: off): a fleet's children
  // replaying at once after an outage stay within what a collector tier
  // takes, and a child still drains a million spooled lines in minutes.
  uint64_t replay_rate = 2000;
  // ScribeTryLaterFailover: TRY_LATER this many times in a row, or for this
  // long, and the next collector of the list takes the lines.
  uint64_t try_later_answers = 5;
  uint64_t try_later_ms = 10000;
  uint64_t flush_ms = 200;      // ScribeFlushInterval
  uint64_t timeout_ms = 2000;   // ScribeTimeout
  uint64_t retry_min_ms = 500;  // ScribeRetryInterval
  uint64_t retry_max_ms = 30000;
  // ScribeExitTimeout: what an exiting child may spend delivering from its
  // spool.
  uint64_t exit_timeout_ms = 2000;
};

// The Shipper of one collector set.
delivery::ShipperOptions shipper_options(const Settings& settings,
                                         const std::vector<Endpoint>& servers);

}  // namespace scribe
