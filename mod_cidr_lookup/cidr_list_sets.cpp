// See cidr_list_sets.h. The generation hangs off pconf (its user data, with
// a cleanup), since httpd offers no way to enumerate the configs of
// directory sections: a restart clears pconf, and the next generation
// starts from the files, and the images, as they are then.
#include "cidr_list_sets.h"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

// clang-format off
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "mod_status.h"
#include "unixd.h"
// clang-format on

#include "list_reload.h"
#include "mod_cidr_lookup.h"
#include "module_kit.h"
#include "status_board.h"

APLOG_USE_MODULE(cidr_lookup);

namespace cidrglue {
namespace {

constexpr const char* kGenerationKey = "mod_cidr_lookup:generation";
// Messages made in one config pass for the error log of a later one, in the
// process pool: plain C strings and an APR array, no cleanup that would call
// into this module's code after httpd unloaded it.
constexpr const char* kNotesKey = "mod_cidr_lookup:notes";
constexpr const char* kImageDirName = "cidr-lookup";
// The types a summary names one by one (the most prefixes first).
constexpr size_t kSummaryTypes = 10;

struct Generation {
  GlobalSettings settings;
  std::vector<std::unique_ptr<ListSet>> sets;
  std::vector<std::unique_ptr<TableSource>> sources;
  std::unique_ptr<cidr::ImageStore> store;
  std::string store_problem;  // why there is no store
  std::unique_ptr<cidr::ReloadBoard> board;
  uid_t parent_uid = 0;
  uid_t children_uid = 0;
  bool loaded = false;
};

apr_status_t delete_generation(void* data) {
  delete static_cast<Generation*>(data);
  return APR_SUCCESS;
}

enum class Lookup { FindOnly, CreateMissing };

Generation* generation(apr_pool_t* pconf, Lookup lookup) {
  void* data = nullptr;
  apr_pool_userdata_get(&data, kGenerationKey, pconf);
  if (data == nullptr && lookup == Lookup::CreateMissing) {
    auto* g = new Generation;
    apr_pool_userdata_set(g, kGenerationKey, delete_generation, pconf);
    data = g;
  }
  return static_cast<Generation*>(data);
}

bool config_test() { return ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_NORMAL; }

// ---- notes for a later pass -------------------------------------------------

struct Note {
  int level;
  const char* text;
};

// The notes waiting for a later pass, in a pool of their own under the
// process pool: flushing clears it, so notes made at every graceful restart
// do not pile up in memory that lives as long as httpd.
struct NoteBook {
  apr_pool_t* pool;
  apr_array_header_t* list;
};

NoteBook* notes(server_rec* s) {
  apr_pool_t* p = s->process->pool;
  void* data = nullptr;
  apr_pool_userdata_get(&data, kNotesKey, p);
  if (data == nullptr) {
    auto* book = static_cast<NoteBook*>(apr_pcalloc(p, sizeof(NoteBook)));
    apr_pool_create(&book->pool, p);
    book->list = apr_array_make(book->pool, 4, sizeof(Note));
    data = book;
    // _set, not _setn: the key is copied into the pool. Ours lives in this
    // module's memory, which httpd unmaps before the next config pass.
    apr_pool_userdata_set(data, kNotesKey, apr_pool_cleanup_null, p);
  }
  return static_cast<NoteBook*>(data);
}

void add_note(server_rec* s, int level, const std::string& text) {
  NoteBook* book = notes(s);
  Note* n = static_cast<Note*>(apr_array_push(book->list));
  n->level = level;
  n->text = apr_pstrdup(book->pool, text.c_str());
}

// Logs the notes (each made with its ID) and forgets them.
void flush_notes(server_rec* s, int extra_flags) {
  NoteBook* book = notes(s);
  const Note* n = reinterpret_cast<const Note*>(book->list->elts);
  for (int i = 0; i < book->list->nelts; ++i) {
    ap_log_error(APLOG_MARK, n[i].level | extra_flags, 0, s, "%s", n[i].text);
  }
  if (book->list->nelts == 0) return;
  apr_pool_clear(book->pool);
  book->list = apr_array_make(book->pool, 4, sizeof(Note));
}

// ---- messages -------------------------------------------------------------

// A list warning, under the message ID of its kind (MESSAGES.md).
void log_list_warning(server_rec* s, int flags, const cidr::Warning& w) {
  const char* text = w.text.c_str();
  switch (w.kind) {
    case cidr::WarningKind::WritableList:
      ap_log_error(APLOG_MARK, APLOG_WARNING | flags, 0, s, "CL0001: %s", text);
      return;
    case cidr::WarningKind::HostBits:
      ap_log_error(APLOG_MARK, APLOG_WARNING | flags, 0, s, "CL0002: %s", text);
      return;
    case cidr::WarningKind::DuplicateNetwork:
      ap_log_error(APLOG_MARK, APLOG_WARNING | flags, 0, s, "CL0003: %s", text);
      return;
    case cidr::WarningKind::EmptyList:
      ap_log_error(APLOG_MARK, APLOG_WARNING | flags, 0, s, "CL0009: %s", text);
      return;
    case cidr::WarningKind::More:
      ap_log_error(APLOG_MARK, APLOG_WARNING | flags, 0, s, "CL0004: %s", text);
      return;
  }
}

std::string local_time(int64_t unix_seconds) {
  char buf[64];
  apr_size_t len = 0;
  apr_time_exp_t t;
  apr_time_exp_lt(&t, apr_time_from_sec(unix_seconds));
  apr_strftime(buf, &len, sizeof buf, "%Y-%m-%d %H:%M:%S", &t);
  return std::string(buf, len);
}

std::string seconds_text(uint64_t micros) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s", double(micros) / 1e6);
  return buf;
}

// "crawler 1200+30, mobile 0+900, ... and 3 more": prefixes per type,
// IPv4+IPv6, most first.
std::string type_breakdown(const cidr::PrefixTable& t) {
  std::vector<std::pair<uint64_t, uint16_t>> order;
  for (size_t id = 0; id < t.type_count(); ++id) {
    uint64_t n = uint64_t(t.type_prefixes(uint16_t(id), cidr::Family::V4)) +
                 t.type_prefixes(uint16_t(id), cidr::Family::V6);
    order.emplace_back(n, uint16_t(id));
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out;
  for (size_t i = 0; i < order.size() && i < kSummaryTypes; ++i) {
    uint16_t id = order[i].second;
    if (!out.empty()) out += ", ";
    out += std::string(t.type_name(id)) + " " +
           std::to_string(t.type_prefixes(id, cidr::Family::V4)) + "+" +
           std::to_string(t.type_prefixes(id, cidr::Family::V6));
  }
  if (order.size() > kSummaryTypes)
    out += ", ... and " + std::to_string(order.size() - kSummaryTypes) + " more";
  return out;
}

void log_summary(server_rec* s, int flags, const TableSource& src) {
  const cidr::PrefixTable& t = src.holder->current();
  const cidr::TableInfo& info = t.info();
  std::string how;
  switch (src.how) {
    case TableOrigin::Built:
      how = "built from the lists in " + seconds_text(info.load_micros);
      break;
    case TableOrigin::Image:
      how = "image of " + local_time(info.built_at) + " reused (built in " +
            seconds_text(info.load_micros) + ")";
      break;
    case TableOrigin::Kept:
      how = "the lists failed to load (CL0012): the image of " + local_time(info.built_at) +
            " is kept";
      break;
  }
  ap_log_error(APLOG_MARK, APLOG_NOTICE | flags, 0, s,
               "CL0010: lists of %s: %" APR_SIZE_T_FMT " IPv4 and %" APR_SIZE_T_FMT
               " IPv6 prefixes (per type, IPv4+IPv6: %s), %" APR_SIZE_T_FMT " bytes%s%s%s; %s",
               src.origin.c_str(), t.size_v4(), t.size_v6(), type_breakdown(t).c_str(),
               t.memory_bytes(),
               t.parts().v4_direct.slots != nullptr ? " (with an IPv4 direct index)" : "",
               src.image.empty() ? "" : ", image ", src.image.c_str(), how.c_str());
}

// Everything worth saying about a source, once per generation.
void report_source(server_rec* s, int flags, const TableSource& src) {
  for (const std::string& n : src.notices) {
    ap_log_error(APLOG_MARK, APLOG_NOTICE | flags, 0, s, "CL0005: %s", n.c_str());
  }
  for (const std::string& e : src.errors) {
    ap_log_error(APLOG_MARK, APLOG_ERR | flags, 0, s,
                 "CL0012: lists of %s: %s; the table they last made is kept", src.origin.c_str(),
                 e.c_str());
  }
  for (const std::string& p : src.problems) {
    ap_log_error(APLOG_MARK, APLOG_WARNING | flags, 0, s, "%s", p.c_str());
  }
  // Whether others can write a list is what holds now, not when the table
  // (maybe an image of earlier) was built.
  for (const cidr::Warning& w : src.writable) log_list_warning(s, flags, w);
  for (const cidr::Warning& w : src.holder->current().warnings()) {
    if (w.kind != cidr::WarningKind::WritableList) log_list_warning(s, flags, w);
  }
  log_summary(s, flags, src);
}

// ---- loading --------------------------------------------------------------

// What went wrong with an image of a source's lists, ready to log.
std::string image_problem(const TableSource& src, const std::string& what) {
  return "CL0014: lists of " + src.origin + ": " + what;
}

// The image directory, in httpd's runtime directory. With reloads, the
// children write images there too: it is theirs (their User).
void open_image_store(Generation& g, apr_pool_t* pconf) {
  std::string runtime_dir = ap_runtime_dir_relative(pconf, "");
  while (runtime_dir.size() > 1 && runtime_dir.back() == '/') runtime_dir.pop_back();
  cidr::DirOwner owner;
  owner.uid = g.children_uid;
  owner.gid = ap_unixd_config.group_id;
  owner.writers = g.settings.reload_seconds > 0 ? cidr::DirOwner::Writers::Children
                                                : cidr::DirOwner::Writers::ParentOnly;
  // A config test reads images but never writes, nor makes the directory.
  g.store = cidr::ImageStore::open_dir(
      runtime_dir, kImageDirName, owner, g.store_problem,
      config_test() ? cidr::ImageStore::Creation::Never : cidr::ImageStore::Creation::IfMissing);
}

// The lists failed to load: keep the newest image of them, or fail.
bool keep_or_fail(Generation& g, TableSource& src, server_rec* s,
                  const std::vector<std::string>& errors) {
  if (g.settings.on_error == OnError::Keep && g.store) {
    std::shared_ptr<const cidr::PrefixTable> kept =
        g.store->newest_for(src.config_key, cidr::TrustedWriters(g.parent_uid));
    if (kept) {
      src.errors = errors;
      src.how = TableOrigin::Kept;
      src.image = cidr::ImageStore::image_name(kept->info().identity);
      src.holder = std::make_unique<cidr::TableHolder>(
          kept, g.settings.reload_seconds > 0 ? cidr::TableHolder::Switching::OnReload
                                              : cidr::TableHolder::Switching::Never);
      return true;
    }
  }
  std::vector<std::string> reported = errors;
  if (g.settings.on_error == OnError::Keep) {
    reported.push_back("CIDRLookupOnError keep found no table of these lists to keep");
  }
  for (const std::string& e : reported) {
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s, "CL0011: lists of %s: %s",
                 src.origin.c_str(), e.c_str());
  }
  return false;
}

bool load_source(Generation& g, TableSource& src, server_rec* s) {
  cidr::Diagnostics found;
  std::vector<cidr::ListFile> files = cidr::find_list_files(src.specs, found);
  src.notices = found.notices();
  // As a reload round computes them: a table kept after errors is not
  // loaded again until the files change.
  src.stamps =
      found.has_errors() ? cidr::problem_identity(found.errors()) : cidr::stamps_fingerprint(files);
  if (found.has_errors()) return keep_or_fail(g, src, s, found.errors());
  src.empty_files = cidr::empty_files(files);
  src.writable = cidr::writable_list_warnings(files);
  uint64_t identity = 0;
  std::string unreadable;
  if (!cidr::list_identity(files, identity, unreadable))
    return keep_or_fail(g, src, s, {unreadable});

  const cidr::TableHolder::Switching switching = g.settings.reload_seconds > 0
                                                     ? cidr::TableHolder::Switching::OnReload
                                                     : cidr::TableHolder::Switching::Never;
  const cidr::TrustedWriters parent_only(g.parent_uid);
  std::shared_ptr<const cidr::PrefixTable> table;
  if (g.store) {
    std::string why;
    table = g.store->open(identity, parent_only, why);
    uid_t owner = 0;
    if (!table && g.children_uid != g.parent_uid && g.store->owner_of(identity, owner) &&
        owner == g.children_uid) {
      // Written by a child at a reload: expected, and never taken by the
      // parent (anything running as User may have changed it since).
      add_note(s, APLOG_DEBUG,
               "CL0019: lists of " + src.origin + ": the image " +
                   cidr::ImageStore::image_name(identity) +
                   " a child wrote at a reload is not used by the parent; it builds its own");
    } else if (!why.empty()) {
      add_note(s, APLOG_WARNING,
               image_problem(src, "the image " + cidr::ImageStore::image_name(identity) + " in " +
                                      g.store->path() + " was refused (" + why +
                                      "); it is built again from the lists"));
    }
  }
  if (table) {
    src.how = TableOrigin::Image;
    src.image = cidr::ImageStore::image_name(identity);
  } else {
    cidr::Loader loader;
    cidr::Diagnostics diag;
    loader.load_files(files, diag);
    if (diag.has_errors()) return keep_or_fail(g, src, s, diag.errors());
    std::unique_ptr<cidr::PrefixTable> built = loader.build(diag);
    cidr::TableInfo info = built->info();
    info.config_key = src.config_key;
    built->set_info(info);
    src.how = TableOrigin::Built;
    std::string name, error, why;
    if (!g.store || config_test()) built->settle();  // kept in memory: used from there
    table = std::move(built);
    if (g.store && !config_test()) {
      // Mapped from the image, the table is shared with every child and
      // later generation; in memory, each generation has its own.
      if (g.store->write(*table, name, error)) {
        std::shared_ptr<const cidr::PrefixTable> mapped =
            g.store->open(info.identity, parent_only, why);
        if (mapped) {
          table = std::move(mapped);
          src.image = name;
        } else {
          src.problems.push_back(image_problem(src, "the image " + name +
                                                        " just written was refused (" + why +
                                                        "); the table is kept in memory"));
        }
      } else {
        src.problems.push_back(image_problem(src, error + "; the table is kept in memory"));
      }
    }
  }
  src.holder = std::make_unique<cidr::TableHolder>(std::move(table), switching);
  return true;
}

// Contexts naming the same lists in the same order share a source.
TableSource* source_for(Generation& g, const ListSet& set) {
  for (const auto& src : g.sources) {
    if (src->specs.size() != set.specs.size()) continue;
    bool same = true;
    for (size_t i = 0; same && i < set.specs.size(); ++i) {
      same =
          src->specs[i].kind == set.specs[i].kind && src->specs[i].pattern == set.specs[i].pattern;
    }
    if (same) return src.get();
  }
  auto src = std::make_unique<TableSource>();
  src->specs = set.specs;
  src->config_key = cidr::specs_key(set.specs);
  src->origin = set.origin;
  g.sources.push_back(std::move(src));
  return g.sources.back().get();
}

}  // namespace

ListSet* new_list_set(apr_pool_t* pconf, const ap_directive_t* directive) {
  Generation* g = generation(pconf, Lookup::CreateMissing);
  auto set = std::make_unique<ListSet>();
  if (directive != nullptr) {
    set->origin = std::string(directive->filename ? directive->filename : "?") + ":" +
                  std::to_string(directive->line_num);
  }
  g->sets.push_back(std::move(set));
  return g->sets.back().get();
}

GlobalSettings& global_settings(apr_pool_t* pconf) {
  return generation(pconf, Lookup::CreateMissing)->settings;
}

bool load_list_sets(apr_pool_t* pconf, server_rec* s) {
  Generation* g = generation(pconf, Lookup::FindOnly);
  if (g == nullptr || g->sets.empty() || g->loaded) return true;
  g->loaded = true;
  g->parent_uid = ::geteuid();
  g->children_uid = g->parent_uid == 0 ? ap_unixd_config.user_id : g->parent_uid;
  for (auto& set : g->sets) set->source = source_for(*g, *set);
  open_image_store(*g, pconf);
  bool ok = true;
  for (auto& src : g->sources) {
    const char* who = apr_pstrcat(pconf, "cannot load the lists of ", src->origin.c_str(), nullptr);
    bool loaded = false;
    if (!logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_STARTUP | APLOG_CRIT, s, who,
                                  [&] { loaded = load_source(*g, *src, s); })) {
      loaded = false;
    }
    ok = ok && loaded;
  }
  return ok;
}

void report_list_sets(apr_pool_t* pconf, server_rec* s) {
  flush_notes(s, APLOG_STARTUP);
  Generation* g = generation(pconf, Lookup::FindOnly);
  if (g == nullptr) return;
  for (const auto& src : g->sources) {
    if (src->holder) report_source(s, APLOG_STARTUP, *src);
  }
}

void finish_list_sets(apr_pool_t* pconf, server_rec* s) {
  flush_notes(s, 0);
  Generation* g = generation(pconf, Lookup::FindOnly);
  if (g == nullptr || !g->loaded) return;
  if (!g->store) {
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                 "CL0013: image directory: %s; each generation builds its tables in memory%s",
                 g->store_problem.c_str(),
                 g->settings.reload_seconds > 0 ? ", and lists are not reloaded" : "");
  }
  std::vector<std::string> in_use;
  for (const auto& src : g->sources) {
    report_source(s, 0, *src);
    if (!src->image.empty()) in_use.push_back(src->image);
  }
  for (const auto& set : g->sets) {
    const cidr::PrefixTable& t = set->source->holder->current();
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "CL0006: lists of %s: %" APR_SIZE_T_FMT " IPv4 and %" APR_SIZE_T_FMT
                 " IPv6 networks, %" APR_SIZE_T_FMT " client types, %" APR_SIZE_T_FMT " bytes",
                 set->origin.c_str(), t.size_v4(), t.size_v6(), t.type_count(), t.memory_bytes());
  }
  if (g->store) {
    g->store->collect(in_use);
    if (g->settings.reload_seconds > 0) {
      // Before any child is forked: every child of the generation shares it.
      g->board = std::make_unique<cidr::ReloadBoard>(g->sources.size());
      for (size_t i = 0; i < g->sources.size(); ++i) g->sources[i]->board_slot = i;
    }
  }
}

bool reload_parts(apr_pool_t* pconf, ReloadParts& out) {
  Generation* g = generation(pconf, Lookup::FindOnly);
  if (g == nullptr || !g->loaded) return false;
  out.settings = g->settings;
  out.store = g->store.get();
  out.board = g->board.get();
  out.parent_uid = g->parent_uid;
  out.children_uid = g->children_uid;
  out.sources.clear();
  for (const auto& src : g->sources) out.sources.push_back(src.get());
  return true;
}

// A context is named by where its first CIDRFile or CIDRMap is
// ("file:line"). Each line shows the table this child uses now.
void print_list_sets(request_rec* r, int flags) {
  Generation* g = generation(r->server->process->pconf, Lookup::FindOnly);
  if (g == nullptr || g->sets.empty() || !g->loaded) return;
  const bool lines = flags & (AP_STATUS_SHORT | AP_STATUS_NOTABLE);
  const bool html = !(flags & AP_STATUS_SHORT);
  if (html) ap_rputs("<hr />\n<h2>CIDR lists</h2>\n", r);
  if (html && lines) ap_rputs("<pre>\n", r);
  if (!lines)
    ap_rputs(
        "<table border=\"1\">\n<tr><th>Context</th><th>IPv4Prefixes</th>"
        "<th>IPv6Prefixes</th><th>Types</th><th>Bytes</th><th>Loaded</th>"
        "<th>LoadSeconds</th><th>Reloads</th></tr>\n",
        r);
  std::vector<std::string> seen;
  for (const auto& set : g->sets) {
    if (set->source == nullptr || !set->source->holder) continue;
    // One file Included in several contexts gives them the same origin.
    std::string name = set->origin;
    size_t same = static_cast<size_t>(std::count(seen.begin(), seen.end(), set->origin));
    seen.push_back(set->origin);
    if (same) name += "#" + std::to_string(same + 1);
    const TableSource& src = *set->source;
    uint64_t reloads = g->board ? g->board->slot(src.board_slot).reloads.load() : 0;
    cidr::TableHolder::Lease lease = src.holder->acquire();
    const cidr::PrefixTable& t = *lease.table;
    double seconds = double(t.info().load_micros) / 1e6;
    if (lines) {
      std::string key = "CIDR " + delivery::status_key_word(name) + " ";
      if (html) key = ap_escape_html(r->pool, key.c_str());
      ap_rprintf(r, "%sIPv4Prefixes: %" APR_SIZE_T_FMT "\n", key.c_str(), t.size_v4());
      ap_rprintf(r, "%sIPv6Prefixes: %" APR_SIZE_T_FMT "\n", key.c_str(), t.size_v6());
      ap_rprintf(r, "%sTypes: %" APR_SIZE_T_FMT "\n", key.c_str(), t.type_count());
      ap_rprintf(r, "%sBytes: %" APR_SIZE_T_FMT "\n", key.c_str(), t.memory_bytes());
      ap_rprintf(r, "%sLoadedAt: %" APR_INT64_T_FMT "\n", key.c_str(),
                 static_cast<apr_int64_t>(t.info().built_at));
      ap_rprintf(r, "%sLoadSeconds: %.3f\n", key.c_str(), seconds);
      ap_rprintf(r, "%sReloads: %" APR_UINT64_T_FMT "\n", key.c_str(),
                 static_cast<apr_uint64_t>(reloads));
    } else {
      ap_rprintf(
          r,
          "<tr><td>%s</td><td>%" APR_SIZE_T_FMT "</td><td>%" APR_SIZE_T_FMT
          "</td><td>%" APR_SIZE_T_FMT "</td><td>%" APR_SIZE_T_FMT
          "</td><td>%s</td><td>%.3f</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
          ap_escape_html(r->pool, name.c_str()), t.size_v4(), t.size_v6(), t.type_count(),
          t.memory_bytes(),
          ap_ht_time(r->pool, apr_time_from_sec(t.info().built_at), "%Y-%m-%d %H:%M:%S %Z", 1),
          seconds, static_cast<apr_uint64_t>(reloads));
    }
    src.holder->release(lease.slot);
  }
  if (html) ap_rputs(lines ? "</pre>\n" : "</table>\n", r);
}

}  // namespace cidrglue
