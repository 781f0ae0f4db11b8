// mod_cidr_lookup's httpd side: directives, per-request hooks, the
// `client-type` authz provider and the `client_type` expression function.
// The lists and their tables are cidr_list_sets (loading, images) and
// cidr_reload_glue (CIDRLookupReload); the matching itself is the pure core
// (cidr_loader, prefix_table); this file only moves data between it and
// httpd.
//
// Life of a list:
//  - CIDRFile / CIDRMap note the files a context names while the config is
//    read; check_config loads them (or maps their image), so a bad list
//    fails `apachectl -t` with "file:line: reason".
//  - A request leases the table its lists answer with for its whole life:
//    a reload switches tables between requests, never under one.
//  - Everything hangs off pconf: a restart clears it, and the next
//    generation starts from the files (and images) as they are then.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

// httpd.h first: the other httpd headers use its types without including it.
#include "httpd.h"
// clang-format off
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_expr.h"
#include "ap_provider.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "mod_auth.h"
#include "mod_status.h"
// clang-format on

#include "cidr_list_sets.h"
#include "cidr_loader.h"
#include "cidr_names.h"
#include "cidr_parse.h"
#include "config_values.h"
#include "mod_cidr_lookup.h"
#include "module_kit.h"
#include "prefix_table.h"
#include "status_board.h"
#include "table_holder.h"

APLOG_USE_MODULE(cidr_lookup);

namespace {

using cidrglue::ListSet;

constexpr const char* kDefaultEnv = "X_CLIENT_TYPE";
constexpr const char* kDefaultHeader = "X-Client-Type";
// CIDRLookupReload: how often children look at the lists, in seconds.
constexpr uint64_t kMinReloadSeconds = 1;
constexpr uint64_t kMaxReloadSeconds = 86400;
// The expression function: client_type('') for the request's client,
// client_type(ADDRESS) for any address.
constexpr const char* kExprFunction = "client_type";

// The settings of a context. A `*_set` flag says the context gave the
// directive; unset fields are inherited from the enclosing context.
struct Settings {
  ListSet* lists;
  const char* default_type;  // null: no default
  const char* env;
  const char* header;       // null: off
  const char* network_env;  // null: off
  unsigned lists_set : 1;
  unsigned default_set : 1;
  unsigned env_set : 1;
  unsigned header_set : 1;
  unsigned network_env_set : 1;
};

// What a request was tagged with, and the settings that produced it, so a
// later pass can tell whether its directory section changes anything.
struct RequestState {
  const ap_conf_vector_t* per_dir;  // the per-dir config the answer is for
  const ListSet* lists;
  const char* default_type;
  const char* env;
  const char* header;
  const char* network_env;
  const char* type;     // value set in env and header, null if none
  const char* network;  // value set in network_env, null if none
};

// Plain C structs httpd keeps in its pools: zeroed memory, no constructor
// and no cleanup (logchain::pool_new is for C++ objects).
template <typename T>
T* pool_zeroed(apr_pool_t* p) {
  return static_cast<T*>(apr_pcalloc(p, sizeof(T)));
}

Settings* merge_settings(apr_pool_t* p, const Settings* base, const Settings* add) {
  Settings* out = pool_zeroed<Settings>(p);
  *out = *base;
  if (add->lists_set) {
    out->lists = add->lists;
    out->lists_set = 1;
  }
  if (add->default_set) {
    out->default_type = add->default_type;
    out->default_set = 1;
  }
  if (add->env_set) {
    out->env = add->env;
    out->env_set = 1;
  }
  if (add->header_set) {
    out->header = add->header;
    out->header_set = 1;
  }
  if (add->network_env_set) {
    out->network_env = add->network_env;
    out->network_env_set = 1;
  }
  return out;
}

// Directives outside any section configure the server (used in
// post_read_request); inside <Directory>/<Location> they configure that
// section (used in post_perdir_config).
Settings* settings_for(cmd_parms* cmd, void* dconf) {
  if (cmd->path == nullptr) {
    return static_cast<Settings*>(
        ap_get_module_config(cmd->server->module_config, &cidr_lookup_module));
  }
  return static_cast<Settings*>(dconf);
}

struct Effective {
  const ListSet* lists;
  const char* default_type;
  const char* env;
  const char* header;
  const char* network_env;
};

Effective effective(const Settings* server, const Settings* dir) {
  Effective e;
  const Settings* s = server;
  e.lists = (dir && dir->lists_set) ? dir->lists : s->lists;
  e.default_type = (dir && dir->default_set) ? dir->default_type : s->default_type;
  e.env = (dir && dir->env_set) ? dir->env : (s->env_set ? s->env : kDefaultEnv);
  e.header = (dir && dir->header_set) ? dir->header : (s->header_set ? s->header : kDefaultHeader);
  e.network_env = (dir && dir->network_env_set) ? dir->network_env : s->network_env;
  return e;
}

bool same_settings(const RequestState* st, const Effective& e) {
  return st->lists == e.lists && st->default_type == e.default_type && st->env == e.env &&
         st->header == e.header && st->network_env == e.network_env;
}

const Settings* server_settings(const request_rec* r) {
  return static_cast<const Settings*>(
      ap_get_module_config(r->server->module_config, &cidr_lookup_module));
}

const Settings* dir_settings(const request_rec* r) {
  return static_cast<const Settings*>(ap_get_module_config(r->per_dir_config, &cidr_lookup_module));
}

RequestState* request_state(const request_rec* r) {
  return static_cast<RequestState*>(ap_get_module_config(r->request_config, &cidr_lookup_module));
}

// A lease on the table `lists` answer with now, given back when the
// request's pool goes (in prefork maybe from a signal handler: release()
// only decrements). Null when there is no table.
struct LeaseCleanup {
  const cidr::TableHolder* holder;
  unsigned slot;
};

apr_status_t end_lease(void* data) {
  const auto* l = static_cast<const LeaseCleanup*>(data);
  l->holder->release(l->slot);
  return APR_SUCCESS;
}

const cidr::PrefixTable* leased_table(request_rec* r, const ListSet* lists) {
  if (lists == nullptr || lists->source == nullptr || !lists->source->holder) return nullptr;
  const cidr::TableHolder* holder = lists->source->holder.get();
  cidr::TableHolder::Lease lease = holder->acquire();
  if (lease.slot != cidr::TableHolder::kFixedSlot) {
    auto* cleanup = static_cast<LeaseCleanup*>(apr_palloc(r->pool, sizeof(LeaseCleanup)));
    cleanup->holder = holder;
    cleanup->slot = lease.slot;
    apr_pool_cleanup_register(r->pool, cleanup, end_lease, apr_pool_cleanup_null);
  }
  return lease.table;
}

// The client address is useragent_addr, which mod_remoteip rewrites from
// X-Forwarded-For. Raw sockaddr bytes avoid re-parsing text per request.
bool lookup_client(const request_rec* r, const cidr::PrefixTable& table, cidr::Match& m) {
  const apr_sockaddr_t* sa = r->useragent_addr;
  if (sa != nullptr && sa->ipaddr_ptr != nullptr && (sa->ipaddr_len == 4 || sa->ipaddr_len == 16)) {
    return table.lookup_bytes(static_cast<const unsigned char*>(sa->ipaddr_ptr),
                              size_t(sa->ipaddr_len), m);
  }
  cidr::Address addr;
  if (r->useragent_ip == nullptr || !cidr::parse_address(r->useragent_ip, addr)) return false;
  return table.lookup(addr, m);
}

// Removes every request header a client could use to pass its own answer
// off as ours: any spelling (case, '_' or '-') of the header we set, and of
// the variables we set, since `SetEnvIf NAME` reads a header NAME before the
// variable and CGI/WSGI/Rack map `X_Client-Type` to HTTP_X_CLIENT_TYPE too.
// This runs whatever the configuration: with no lists and with the header
// off, a forged value must not reach the application either.
void strip_forgeable_headers(request_rec* r, const Effective& e) {
  const char* names[] = {e.header, e.env, e.network_env};
  const apr_array_header_t* fields = apr_table_elts(r->headers_in);
  const auto* entries = reinterpret_cast<const apr_table_entry_t*>(fields->elts);
  std::vector<const char*> doomed;
  for (int i = 0; i < fields->nelts; ++i) {
    const char* key = entries[i].key;
    if (key == nullptr) continue;
    for (const char* name : names) {
      if (name != nullptr && cidr::same_field_name(key, name)) {
        doomed.push_back(key);
        break;
      }
    }
  }
  // apr_table_unset() removes every field of that name, whatever its case.
  for (const char* key : doomed) apr_table_unset(r->headers_in, key);
}

void withdraw(request_rec* r, const RequestState* prev) {
  if (prev->type != nullptr) {
    apr_table_unset(r->subprocess_env, prev->env);
    if (prev->header != nullptr) apr_table_unset(r->headers_in, prev->header);
  }
  if (prev->network != nullptr) apr_table_unset(r->subprocess_env, prev->network_env);
}

void publish(request_rec* r, const RequestState* st) {
  if (st->type != nullptr) {
    apr_table_setn(r->subprocess_env, st->env, st->type);
    if (st->header != nullptr) apr_table_setn(r->headers_in, st->header, st->type);
  }
  if (st->network != nullptr) apr_table_setn(r->subprocess_env, st->network_env, st->network);
}

RequestState* look_up(request_rec* r, const Effective& e) {
  RequestState* st = pool_zeroed<RequestState>(r->pool);
  st->per_dir = r->per_dir_config;
  st->lists = e.lists;
  st->default_type = e.default_type;
  st->env = e.env;
  st->header = e.header;
  st->network_env = e.network_env;

  cidr::Match m;
  const cidr::PrefixTable* table = leased_table(r, e.lists);
  if (table != nullptr && lookup_client(r, *table, m)) {
    // Type names live in the table, leased as long as the request lives.
    st->type = table->type_name(m.type);
    if (e.network_env != nullptr) {
      char* buf = static_cast<char*>(apr_palloc(r->pool, cidr::kMaxPrefixText));
      cidr::format_prefix_to(m.network, buf);
      st->network = buf;
    }
  } else {
    st->type = e.default_type;
  }
  ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "CL0008: client %s: type %s, network %s",
                r->useragent_ip ? r->useragent_ip : "?", st->type ? st->type : "(none)",
                st->network ? st->network : "-");
  return st;
}

// One pass: tags the request per `e`, first undoing what `prev` (an earlier
// pass over this request, or its parent's for a subrequest) set, and
// removing whatever the client sent under our names. When `e` is what
// `prev` was computed with, its answer stands without a second lookup.
RequestState* tag_request(request_rec* r, const Effective& e, const RequestState* prev) {
  if (prev != nullptr) withdraw(r, prev);
  strip_forgeable_headers(r, e);
  RequestState* st = nullptr;
  if (prev != nullptr && same_settings(prev, e)) {
    st = pool_zeroed<RequestState>(r->pool);
    *st = *prev;
    st->per_dir = r->per_dir_config;
  } else {
    st = look_up(r, e);
  }
  publish(r, st);
  ap_set_module_config(r->request_config, &cidr_lookup_module, st);
  return st;
}

// Runs a request hook's lookup; a failure is logged and the hook returns
// `result` as it would have anyway: the request goes on untagged.
template <typename Fn>
int guarded(request_rec* r, int result, Fn&& fn) {
  return logchain::guard_request(APLOG_MODULE_INDEX, r, "client type lookup failed", result, [&] {
    fn();
    return result;
  });
}

// Server and virtual-host lists, for everything that runs before the
// directory sections are known (SetEnvIf and RewriteRule in server context,
// <If>). Runs for internal redirects too (ErrorDocument, RewriteRule [PT]).
int post_read_request(request_rec* r) {
  return guarded(r, DECLINED,
                 [r] { tag_request(r, effective(server_settings(r), nullptr), request_state(r)); });
}

// The lists of the request's own directory section. post_perdir_config runs
// for main requests, internal redirects and subrequests (mod_include
// virtual, mod_rewrite -U/LA-U lookups, MultiViews, DirectoryIndex) after the
// section walk and before authorization, so each of them, and the `Require
// client-type` that guards it, gets the answer of its own section. A
// subrequest starts from its parent's answer.
int post_perdir_config(request_rec* r) {
  return guarded(r, OK, [r] {
    const RequestState* prev = request_state(r);
    if (prev == nullptr && r->main != nullptr) prev = request_state(r->main);
    tag_request(r, effective(server_settings(r), dir_settings(r)), prev);
  });
}

// mod_dir (DirectoryIndex) and mod_negotiation (MultiViews) serve a
// subrequest's file as the main request through ap_internal_fast_redirect(),
// which takes over the subrequest's per-dir config and variables but not
// its request headers or our state: bring both in line with that section
// before the handler runs.
int fixups(request_rec* r) {
  return guarded(r, DECLINED, [r] {
    const RequestState* st = request_state(r);
    if (st != nullptr && st->per_dir == r->per_dir_config) return;
    tag_request(r, effective(server_settings(r), dir_settings(r)), st);
  });
}

// The client type the lists of `e` give `addr` (the request's client when
// null), CIDRLookupDefault when none matches. Throws.
const char* type_of(request_rec* r, const Effective& e, const cidr::Address* addr) {
  const cidr::PrefixTable* table = leased_table(r, e.lists);
  cidr::Match m;
  bool hit = table != nullptr && (addr ? table->lookup(*addr, m) : lookup_client(r, *table, m));
  return hit ? table->type_name(m.type) : e.default_type;
}

// ---- authz provider -------------------------------------------------------

struct RequireTypes {
  apr_array_header_t* types;  // const char*
};

const char* parse_require_client_type(cmd_parms* cmd, const char* require_line,
                                      const void** parsed) {
  return logchain::guard_directive_named(cmd, "Require client-type", [&]() -> const char* {
    auto* req = pool_zeroed<RequireTypes>(cmd->pool);
    req->types = apr_array_make(cmd->pool, 4, sizeof(const char*));
    const char* line = require_line;
    while (*line != '\0') {
      const char* word = ap_getword_conf(cmd->pool, &line);
      if (*word == '\0') break;
      if (!cidr::valid_type_name(word)) {
        return apr_psprintf(cmd->pool,
                            "Require client-type: '%s' is not a valid client type "
                            "(letters, digits and -_.:+@ only)",
                            word);
      }
      *static_cast<const char**>(apr_array_push(req->types)) = word;
    }
    if (req->types->nelts == 0) return "Require client-type needs one or more client types";
    *parsed = req;
    return nullptr;
  });
}

// Compares with what the request was tagged with (CIDRLookupDefault
// included), which is also what the backend sees. Throws.
authz_status client_type_verdict(request_rec* r, const void* parsed) {
  const auto* req = static_cast<const RequireTypes*>(parsed);
  if (req == nullptr) return AUTHZ_GENERAL_ERROR;
  // The answer for this very request (main, subrequest or redirect):
  // post_perdir_config computed it for its own section just before.
  const RequestState* st = request_state(r);
  if (st != nullptr && st->per_dir != r->per_dir_config) st = nullptr;
  const char* type = nullptr;
  if (st != nullptr) {
    type = st->type;
  } else {
    type = type_of(r, effective(server_settings(r), dir_settings(r)), nullptr);
  }
  if (type != nullptr) {
    const auto* names = reinterpret_cast<const char* const*>(req->types->elts);
    for (int i = 0; i < req->types->nelts; ++i) {
      if (std::strcmp(names[i], type) == 0) return AUTHZ_GRANTED;
    }
  }
  ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                "CL0007: client %s has client type %s: not allowed by 'Require client-type'",
                r->useragent_ip ? r->useragent_ip : "?", type ? type : "(none)");
  return AUTHZ_DENIED;
}

authz_status check_client_type(request_rec* r, const char* /*require_line*/, const void* parsed) {
  return logchain::guard_request(APLOG_MODULE_INDEX, r, "Require client-type", AUTHZ_GENERAL_ERROR,
                                 [&] { return client_type_verdict(r, parsed); });
}

const authz_provider kClientTypeProvider = {&check_client_type, &parse_require_client_type};

// ---- client_type() in expressions ------------------------------------------

// client_type(''): this request's answer, as its lists made it for the
// section it is in now (the one `Require client-type` compares with);
// client_type(ADDRESS): what those lists give that address. Both with
// CIDRLookupDefault, "" for none.
const char* client_type_function(ap_expr_eval_ctx_t* ctx, const void* /*data*/, const char* arg) {
  request_rec* r = ctx->r;
  if (r == nullptr) return "";
  return logchain::guard_request(APLOG_MODULE_INDEX, r, "client_type()", "", [&]() -> const char* {
    const char* type = nullptr;
    if (arg != nullptr && *arg != '\0') {
      cidr::Address addr;
      if (!cidr::parse_address(arg, addr)) return "";
      type = type_of(r, effective(server_settings(r), dir_settings(r)), &addr);
    } else if (const RequestState* st = request_state(r)) {
      type = st->type;
    } else {
      type = type_of(r, effective(server_settings(r), dir_settings(r)), nullptr);
    }
    return type != nullptr ? type : "";
  });
}

int expr_lookup(ap_expr_lookup_parms* parms) {
  if (parms->type != AP_EXPR_FUNC_STRING || strcasecmp(parms->name, kExprFunction) != 0) {
    return DECLINED;
  }
  *parms->func = reinterpret_cast<const void*>(&client_type_function);
  *parms->data = kExprFunction;
  return OK;
}

// ---- the lists' life --------------------------------------------------------

// Every config pass, `apachectl -t` included: tables (or their images) for
// every context, before the error log is open.
int check_config(apr_pool_t* pconf, apr_pool_t* /*plog*/, apr_pool_t* /*ptemp*/, server_rec* s) {
  return logchain::guard_hook(APLOG_MODULE_INDEX, s, "mod_cidr_lookup: cannot load the lists", [&] {
    return cidrglue::load_list_sets(pconf, s) ? int{OK} : int{HTTP_INTERNAL_SERVER_ERROR};
  });
}

int post_config(apr_pool_t* pconf, apr_pool_t* /*plog*/, apr_pool_t* /*ptemp*/, server_rec* s) {
  // The first pass only checks the config and is thrown away: its messages
  // would be said twice.
  if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
  return logchain::guard_hook(APLOG_MODULE_INDEX, s, "mod_cidr_lookup: cannot set up the lists",
                              [&] {
                                cidrglue::finish_list_sets(pconf, s);
                                return int{OK};
                              });
}

void child_init(apr_pool_t* pchild, server_rec* s) {
  logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_ERR, s,
                           "mod_cidr_lookup: cannot start reloading lists",
                           [&] { cidrglue::start_reloads(pchild, s); });
}

int status_hook(request_rec* r, int flags) {
  return logchain::guard_request(APLOG_MODULE_INDEX, r, "mod_cidr_lookup: cannot show its figures",
                                 int{OK}, [&] {
                                   cidrglue::print_list_sets(r, flags);
                                   return int{OK};
                                 });
}

// `apachectl -t` stops before post_config: what it would log (warnings,
// duplicate networks, summaries) goes to stderr here.
void test_config(apr_pool_t* pconf, server_rec* s) {
  logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_STARTUP | APLOG_WARNING, s,
                           "mod_cidr_lookup: cannot report on the lists",
                           [&] { cidrglue::report_list_sets(pconf, s); });
}

// ---- directives -------------------------------------------------------------

// Adds one CIDRFile's or CIDRMap's files to the context's lists; they are
// read at check_config. Throws.
const char* note_lists(cmd_parms* cmd, void* dconf, const char* arg, cidr::FileKind kind) {
  Settings* target = settings_for(cmd, dconf);
  if (!target->lists_set || target->lists == nullptr) {
    target->lists = cidrglue::new_list_set(cmd->pool, cmd->directive);
    target->lists_set = 1;
  }
  const char* path = ap_server_root_relative(cmd->temp_pool, arg);
  if (path == nullptr) return apr_pstrcat(cmd->pool, "invalid path: ", arg, nullptr);
  target->lists->specs.push_back(cidr::ListSpec{kind, path});
  return nullptr;
}

// A failure names the directive and the file: "CIDRFile PATH: out of memory".
const char* add_lists(cmd_parms* cmd, void* dconf, const char* arg, cidr::FileKind kind) {
  const char* name = apr_pstrcat(cmd->temp_pool, cmd->cmd->name, " ", arg, nullptr);
  return logchain::guard_directive_named(cmd, name,
                                         [&] { return note_lists(cmd, dconf, arg, kind); });
}

bool valid_env_name(const char* s) {
  if (*s == '\0' || apr_isdigit(*s)) return false;
  for (; *s; ++s) {
    if (!apr_isalnum(*s) && *s != '_') return false;
  }
  return true;
}

// RFC 9110 token characters.
bool valid_header_name(const char* s) {
  if (*s == '\0') return false;
  for (; *s; ++s) {
    if (!apr_isalnum(*s) && std::strchr("!#$%&'*+-.^_`|~", *s) == nullptr) return false;
  }
  return true;
}

}  // namespace

// ---- entry points named by mod_cidr_lookup.c, declared in mod_cidr_lookup.h ----

extern "C" {

void* cidr_lookup_create_dir_config(apr_pool_t* p, char* /*dir*/) {
  return pool_zeroed<Settings>(p);
}

void* cidr_lookup_merge_dir_config(apr_pool_t* p, void* base, void* add) {
  return merge_settings(p, static_cast<Settings*>(base), static_cast<Settings*>(add));
}

void* cidr_lookup_create_server_config(apr_pool_t* p, server_rec* /*s*/) {
  return pool_zeroed<Settings>(p);
}

void* cidr_lookup_merge_server_config(apr_pool_t* p, void* base, void* add) {
  return merge_settings(p, static_cast<Settings*>(base), static_cast<Settings*>(add));
}

const char* cidr_lookup_cmd_file(cmd_parms* cmd, void* dconf, const char* arg) {
  return add_lists(cmd, dconf, arg, cidr::FileKind::List);
}

const char* cidr_lookup_cmd_map(cmd_parms* cmd, void* dconf, const char* arg) {
  return add_lists(cmd, dconf, arg, cidr::FileKind::Map);
}

const char* cidr_lookup_cmd_default(cmd_parms* cmd, void* dconf, const char* arg) {
  if (!cidr::valid_type_name(arg)) {
    return apr_psprintf(cmd->pool,
                        "CIDRLookupDefault: '%s' is not a valid client type "
                        "(letters, digits and -_.:+@ only)",
                        arg);
  }
  Settings* s = settings_for(cmd, dconf);
  s->default_type = arg;
  s->default_set = 1;
  return nullptr;
}

const char* cidr_lookup_cmd_env(cmd_parms* cmd, void* dconf, const char* arg) {
  if (!valid_env_name(arg)) {
    return apr_psprintf(cmd->pool, "CIDRLookupEnv: '%s' is not a valid variable name", arg);
  }
  if (const char* reason = cidr::reserved_env_reason(arg)) {
    return apr_psprintf(cmd->pool, "CIDRLookupEnv: '%s' may not be used: it is %s", arg, reason);
  }
  Settings* s = settings_for(cmd, dconf);
  s->env = arg;
  s->env_set = 1;
  return nullptr;
}

const char* cidr_lookup_cmd_header(cmd_parms* cmd, void* dconf, const char* arg) {
  bool off = strcasecmp(arg, "off") == 0;
  if (!off && !valid_header_name(arg)) {
    return apr_psprintf(cmd->pool, "CIDRLookupHeader: '%s' is not a valid header name", arg);
  }
  if (const char* reason = off ? nullptr : cidr::reserved_header_reason(arg)) {
    return apr_psprintf(cmd->pool, "CIDRLookupHeader: '%s' may not be used: it is %s", arg, reason);
  }
  Settings* s = settings_for(cmd, dconf);
  s->header = off ? nullptr : arg;
  s->header_set = 1;
  return nullptr;
}

const char* cidr_lookup_cmd_network_env(cmd_parms* cmd, void* dconf, const char* arg) {
  bool off = strcasecmp(arg, "off") == 0;
  if (!off && !valid_env_name(arg)) {
    return apr_psprintf(cmd->pool, "CIDRLookupNetworkEnv: '%s' is not a valid variable name", arg);
  }
  if (const char* reason = off ? nullptr : cidr::reserved_env_reason(arg)) {
    return apr_psprintf(cmd->pool, "CIDRLookupNetworkEnv: '%s' may not be used: it is %s", arg,
                        reason);
  }
  Settings* s = settings_for(cmd, dconf);
  s->network_env = off ? nullptr : arg;
  s->network_env_set = 1;
  return nullptr;
}

const char* cidr_lookup_cmd_reload(cmd_parms* cmd, void* /*dconf*/, const char* arg) {
  if (const char* err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return err;
  return logchain::guard_directive(cmd, [&]() -> const char* {
    cidrglue::GlobalSettings& g = cidrglue::global_settings(cmd->pool);
    if (strcasecmp(arg, "off") == 0) {
      g.reload_seconds = 0;
      return nullptr;
    }
    uint64_t seconds = 0;
    std::string error;
    if (!config_values::parse_number(arg, kMinReloadSeconds, kMaxReloadSeconds, seconds, error)) {
      return apr_pstrcat(cmd->pool, "CIDRLookupReload: ", error.c_str(), " (seconds, or off)",
                         nullptr);
    }
    g.reload_seconds = int(seconds);
    return nullptr;
  });
}

const char* cidr_lookup_cmd_on_error(cmd_parms* cmd, void* /*dconf*/, const char* arg) {
  if (const char* err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return err;
  return logchain::guard_directive(cmd, [&]() -> const char* {
    cidrglue::GlobalSettings& g = cidrglue::global_settings(cmd->pool);
    if (strcasecmp(arg, "fail") == 0) {
      g.on_error = cidrglue::OnError::Fail;
    } else if (strcasecmp(arg, "keep") == 0) {
      g.on_error = cidrglue::OnError::Keep;
    } else {
      return apr_psprintf(cmd->pool, "CIDRLookupOnError: '%s' is neither fail nor keep", arg);
    }
    return nullptr;
  });
}

void cidr_lookup_register_hooks(apr_pool_t* p) {
  // mod_remoteip must have rewritten the client address; SetEnvIf and
  // mod_rewrite must see the result.
  static const char* const after[] = {"mod_remoteip.c", nullptr};
  static const char* const before[] = {"mod_setenvif.c", "mod_rewrite.c", nullptr};
  ap_hook_post_read_request(post_read_request, after, before, APR_HOOK_MIDDLE);
  ap_hook_post_perdir_config(post_perdir_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  // Last, after mod_dir's and mod_negotiation's fast redirects.
  ap_hook_fixups(fixups, nullptr, nullptr, APR_HOOK_REALLY_LAST);
  ap_hook_check_config(check_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_test_config(test_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_child_init(child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_expr_lookup(expr_lookup, nullptr, nullptr, APR_HOOK_MIDDLE);
  APR_OPTIONAL_HOOK(ap, status_hook, status_hook, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "client-type", AUTHZ_PROVIDER_VERSION,
                            &kClientTypeProvider, AP_AUTH_INTERNAL_PER_CONF);
}

}  // extern "C"
