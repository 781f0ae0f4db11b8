#include "list_reload.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

#include "content_hash.h"

namespace cidr {

ListReloader::ListReloader(const ImageStore& store, TrustedWriters trusted, ReloadReport report,
                           StopFlag stop)
    : store_(store), trusted_(trusted), report_(std::move(report)), stop_(stop) {}

void ListReloader::watch(const WatchedSource& source) {
  State state;
  static_cast<WatchedSource&>(state) = source;
  sources_.push_back(std::move(state));
}

uint64_t problem_identity(const std::vector<std::string>& errors) {
  ContentHash h(1);
  for (const std::string& e : errors) h.update_text(e);
  return h.digest();
}

std::vector<std::string> empty_files(const std::vector<ListFile>& files) {
  std::vector<std::string> out;
  for (const ListFile& f : files) {
    if (f.stamp.size == 0) out.push_back(f.path);
  }
  return out;
}

void ListReloader::now_using(State& s, uint64_t identity, uint64_t stamps,
                             const std::vector<ListFile>& files) {
  s.identity = identity;
  s.stamps = stamps;
  s.empty_files = empty_files(files);
}

void ListReloader::catch_up() {
  for (State& s : sources_) {
    uint64_t published = s.slot->published.load();
    if (published == 0 || published == s.identity) continue;
    Diagnostics found;
    std::vector<ListFile> files = find_list_files(s.specs, found);
    adopt(s, published,
          found.has_errors() ? problem_identity(found.errors()) : stamps_fingerprint(files), files);
  }
}

void ListReloader::round(int64_t now) {
  for (State& s : sources_) {
    check_stop(stop_);
    s.holder->retire();
    if (s.unplaced.table) {
      // Built or mapped already: only a free slot was missing.
      Unplaced u = std::move(s.unplaced);
      s.unplaced = Unplaced();
      place(s, std::move(u.table), u.identity, u.stamps, u.files);
      continue;
    }
    // One source failing (out of memory, a full disk) must not keep the
    // others from their round; a stop ends the round at once.
    try {
      check(s, now);
    } catch (const LoadStopped&) {
      throw;
    } catch (const std::exception& e) {
      report_(ReloadEvent::Problem, s.origin, e.what());
    }
  }
}

void ListReloader::check(State& s, int64_t now) {
  Diagnostics found;
  std::vector<ListFile> files = find_list_files(s.specs, found);
  const bool findable = !found.has_errors();
  const uint64_t stamps = findable ? stamps_fingerprint(files) : problem_identity(found.errors());
  if (stamps == s.stamps) {
    // Unchanged here; another child may have built from lists it saw
    // change first (the same files: the same new identity).
    uint64_t published = s.slot->published.load();
    if (published != 0 && published != s.identity) adopt(s, published, stamps, files);
    return;
  }
  if (stamps != s.pending) {
    s.pending = stamps;  // act once they have held still for a round
    return;
  }

  uint64_t identity = 0;
  std::string unreadable;
  if (!findable) {
    identity = stamps;
  } else if (!list_identity(files, identity, unreadable)) {
    identity = problem_identity({unreadable});
  }
  if (identity == s.identity) {
    s.stamps = stamps;  // the same bytes (touched, copied over with the same content)
    return;
  }
  if (s.slot->published.load() == identity &&
      adopt(s, identity, stamps, files) != Adoption::Unavailable)
    return;
  if (s.slot->failed.load() == identity) {
    s.stamps = stamps;  // reported already, by whichever child tried
    return;
  }
  if (!findable) return fail(s, identity, found.errors());
  if (!unreadable.empty()) return fail(s, identity, {unreadable});
  const pid_t self = ::getpid();
  if (!claim_build(*s.slot, self, now, kStaleBuildSeconds))
    return;  // another child builds: next round
  try {
    build(s, files, identity, stamps, now);
  } catch (...) {
    release_build(*s.slot, self);
    throw;
  }
  release_build(*s.slot, self);
}

// Maps the published image of `identity` and switches to it. A child's
// image is read and checked against the digest its builder published.
ListReloader::Adoption ListReloader::adopt(State& s, uint64_t identity, uint64_t stamps,
                                           const std::vector<ListFile>& files) {
  ImageDigest digest;
  published_digest(*s.slot, digest.bytes);
  std::string why;
  std::shared_ptr<const PrefixTable> table = store_.open(identity, trusted_, why, &digest);
  if (!table) {
    trouble(s, identity,
            "the image " + ImageStore::image_name(identity) + " another child built " +
                (why.empty() ? "is gone" : "was refused: " + why) + "; trying again");
    return Adoption::Unavailable;
  }
  Adoption a = place(s, std::move(table), identity, stamps, files);
  if (a == Adoption::Switched)
    report_(ReloadEvent::Switched, s.origin, ImageStore::image_name(identity));
  return a;
}

ListReloader::Adoption ListReloader::place(State& s, std::shared_ptr<const PrefixTable> table,
                                           uint64_t identity, uint64_t stamps,
                                           const std::vector<ListFile>& files) {
  if (!s.holder->install(table)) {
    s.unplaced = Unplaced{std::move(table), identity, stamps, files};
    return Adoption::Deferred;  // every slot still leased: next round
  }
  now_using(s, identity, stamps, files);
  return Adoption::Switched;
}

void ListReloader::build(State& s, const std::vector<ListFile>& files, uint64_t identity,
                         uint64_t stamps, int64_t now) {
  Loader loader(stop_);
  Diagnostics diag(kReportedErrors);
  loader.load_files(files, diag);
  std::vector<std::string> reasons = diag.errors();
  // A list emptied to 0 bytes is far more likely one being rewritten in
  // place than one meant to be empty: a reload does not load it (a restart
  // does, with CL0009). Lists that were empty already may stay so.
  for (const std::string& path : empty_files(files)) {
    bool was_empty = false;
    for (const std::string& e : s.empty_files) was_empty = was_empty || e == path;
    if (!was_empty) {
      reasons.push_back(path +
                        ": emptied to 0 bytes (a list being rewritten? write the new one "
                        "beside it and rename it into place); a graceful restart loads it");
    }
  }
  // The bytes parsed are the identity: if the files changed since they were
  // read for `identity`, this names what was loaded.
  const uint64_t loaded = loader.identity();
  if (!reasons.empty()) return fail(s, loaded == identity ? identity : loaded, reasons);

  std::unique_ptr<PrefixTable> built = loader.build(diag);
  TableInfo info = built->info();
  info.config_key = s.config_key;
  built->set_info(info);
  std::string name, error;
  ImageDigest digest;
  if (!store_.write(*built, name, error, digest)) {
    trouble(s, info.identity, error + "; trying again");
    return;
  }
  // This child uses the table it built; its siblings read the image, which
  // must have the digest of what was written (the file is User's).
  std::shared_ptr<const PrefixTable> table = std::move(built);
  publish(*s.slot, info.identity, digest.bytes);
  s.slot->reloads.fetch_add(1);
  s.slot->reloaded_at.store(now);
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f", double(info.load_micros) / 1e6);
  report_(ReloadEvent::Built, s.origin,
          std::to_string(table->size_v4()) + " IPv4 and " + std::to_string(table->size_v6()) +
              " IPv6 prefixes, " + std::to_string(table->type_count()) +
              " client types, loaded in " + seconds + " s, image " + name);
  place(s, std::move(table), info.identity, stamps, files);
}

void ListReloader::trouble(State& s, uint64_t identity, const std::string& text) {
  if (s.troubled == identity) return;
  s.troubled = identity;
  report_(ReloadEvent::Problem, s.origin, text);
}

void ListReloader::fail(State& s, uint64_t identity, const std::vector<std::string>& reasons) {
  s.slot->failed.store(identity);
  s.stamps = s.pending;
  for (const std::string& r : reasons) report_(ReloadEvent::Failed, s.origin, r);
}

}  // namespace cidr
