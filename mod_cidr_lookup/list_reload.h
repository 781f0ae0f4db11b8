// CIDRLookupReload in a child: noticing changed lists, building the new
// table once for all children, and switching to it.
//
// Each round (every CIDRLookupReload seconds, in a thread of its own, never
// on a request's path) a child, for each source of lists:
//  1. finds the files again and compares their stamps (cidr_loader.h) with
//     those of the table in use; a change is acted on once the stamps have
//     held still for a round, so that a list being written is not loaded
//     half-way;
//  2. reads the files' identity; same bytes (a touch): nothing to do;
//  3. if another child already built the image of that identity (the
//     board says so), maps it;
//  4. else, when it wins the board's claim, loads and builds it, writes the
//     image, maps it back and publishes it; a load that fails (a bad line,
//     an unreadable file, a list emptied to 0 bytes: most likely one being
//     rewritten) keeps the table in use and is reported once, by this
//     child, for that identity;
//  5. installs the new table in its holder: requests that start afterwards
//     use it, those under way keep theirs.
// No httpd headers: the glue runs the thread and logs what is reported.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cidr_loader.h"
#include "image_store.h"
#include "reload_board.h"
#include "table_builder.h"
#include "table_holder.h"

namespace cidr {

// What a round can report; the glue logs each under its own message ID.
enum class ReloadEvent {
  Built,     // this child built and published a new table (text: a summary)
  Failed,    // the lists could not be loaded; the table in use stays (text: one reason)
  Switched,  // this child now uses a table another built (text: the image)
  Problem,   // something else went wrong (text: what); tried again next round
};

using ReloadReport =
    std::function<void(ReloadEvent event, const std::string& origin, const std::string& text)>;

// One source of lists a child watches.
struct WatchedSource {
  std::vector<ListSpec> specs;
  uint64_t config_key = 0;
  std::string origin;                    // "file:line" of the first directive, for messages
  uint64_t stamps = 0;                   // of the files the table in use was loaded from
  uint64_t identity = 0;                 // of the table in use
  std::vector<std::string> empty_files;  // of 0 bytes when it was loaded (those may stay so)
  ReloadSlot* slot = nullptr;            // on the generation's board
  TableHolder* holder = nullptr;
};

class ListReloader {
 public:
  // How long a claim to build may last before another child takes over.
  static constexpr int64_t kStaleBuildSeconds = 300;
  // Errors reported per failed load, the rest counted.
  static constexpr size_t kReportedErrors = 10;

  ListReloader(const ImageStore& store, TrustedWriters trusted, ReloadReport report, StopFlag stop);

  void watch(const WatchedSource& source);
  // For a child just started: maps what its siblings built since the
  // generation began (its tables are the generation's first ones), so
  // that it never answers from lists already replaced.
  void catch_up();
  // One round over every source. Throws LoadStopped when told to stop.
  void round(int64_t now);

 private:
  // A table ready to be switched to while every holder slot was still
  // leased (long requests): switched to at the next round, not built again.
  struct Unplaced {
    std::shared_ptr<const PrefixTable> table;
    uint64_t identity = 0;
    uint64_t stamps = 0;
    std::vector<ListFile> files;
  };
  struct State : WatchedSource {
    uint64_t pending = 0;   // stamps seen once, to be seen again before acting
    uint64_t troubled = 0;  // the identity a Problem was reported for (once)
    Unplaced unplaced;
  };
  enum class Adoption { Switched, Deferred, Unavailable };

  // A Problem, reported once per identity of the lists; tried again
  // every round all the same.
  void trouble(State& s, uint64_t identity, const std::string& text);

  void check(State& s, int64_t now);
  Adoption adopt(State& s, uint64_t identity, uint64_t stamps, const std::vector<ListFile>& files);
  // Switches to `table`, or keeps it for the next round when no slot is
  // free. Switched or Deferred.
  Adoption place(State& s, std::shared_ptr<const PrefixTable> table, uint64_t identity,
                 uint64_t stamps, const std::vector<ListFile>& files);
  void build(State& s, const std::vector<ListFile>& files, uint64_t identity, uint64_t stamps,
             int64_t now);
  void now_using(State& s, uint64_t identity, uint64_t stamps, const std::vector<ListFile>& files);
  void fail(State& s, uint64_t identity, const std::vector<std::string>& reasons);

  const ImageStore& store_;
  TrustedWriters trusted_;
  ReloadReport report_;
  StopFlag stop_;
  std::vector<State> sources_;
};

// A digest standing for lists that cannot be found (a glob matching no file,
// a directory without lists): its errors, so that the same problem is
// reported once and a different one again.
uint64_t problem_identity(const std::vector<std::string>& errors);

// The files of 0 bytes.
std::vector<std::string> empty_files(const std::vector<ListFile>& files);

}  // namespace cidr
