// The CIDR lists of one config generation, as the glue sees them.
//
// A ListSet is what one context (the main server, a virtual host, a
// directory section) names with CIDRFile and CIDRMap. ListSets naming the
// same lists in the same order share one TableSource: one table, one image,
// one reload. The generation (in pconf) owns them all, the image directory
// and the reload board.
//
// Life of a table:
//  - check_config (every config pass, `apachectl -t` too): each source's
//    files are found and their identity read; the image of that identity is
//    mapped when a trusted one exists, else the lists are loaded and built
//    and the image written (never under -t). A bad list fails the pass with
//    "file:line: reason", or, with CIDRLookupOnError keep, the newest image
//    of the same lists is kept.
//  - post_config: warnings, notices and a summary of each table go to the
//    error log; the reload board is made before the children are forked;
//    images no generation uses any more are removed.
//  - child_init (cidr_reload_glue.cpp): with CIDRLookupReload, a thread that
//    watches the lists and switches each source's table.
// Glue only: includes httpd headers.
#pragma once

#include <memory>
#include <string>
#include <vector>

// httpd.h first: the other httpd headers use its types without including it.
#include "httpd.h"
// clang-format off
#include "http_config.h"
#include "util_cfgtree.h"
// clang-format on

#include "cidr_loader.h"
#include "image_store.h"
#include "prefix_table.h"
#include "reload_board.h"
#include "table_holder.h"

namespace cidrglue {

enum class OnError { Fail, Keep };

// How a source's table came to be at startup.
enum class TableOrigin {
  Built,  // loaded and built from the lists
  Image,  // the image of the same lists, mapped
  Kept,   // the lists failed to load: the newest image of them (CIDRLookupOnError keep)
};

// One set of lists, as directives name them.
struct TableSource {
  std::vector<cidr::ListSpec> specs;
  uint64_t config_key = 0;
  std::string origin;  // "file:line" of the first directive naming them
  // What requests use (leases); holds the startup table until a reload.
  std::unique_ptr<cidr::TableHolder> holder;
  TableOrigin how = TableOrigin::Built;
  uint64_t stamps = 0;                   // of the files at startup
  std::vector<std::string> empty_files;  // of 0 bytes at startup
  std::string image;                     // its image's file name, empty when in memory only
  std::vector<std::string> notices;      // backup files skipped
  std::vector<cidr::Warning> writable;   // lists others can write, as they are now
  std::vector<std::string> errors;       // why the lists failed to load (Kept)
  std::vector<std::string> problems;     // images refused or not written
  size_t board_slot = 0;
};

// The lists of one context. Owned by the generation.
struct ListSet {
  std::vector<cidr::ListSpec> specs;
  std::string origin;             // "file:line" of its first CIDRFile or CIDRMap
  TableSource* source = nullptr;  // from check_config on
};

// The directives that hold for the whole server.
struct GlobalSettings {
  int reload_seconds = 0;  // CIDRLookupReload; 0: off
  OnError on_error = OnError::Fail;
};

// A new, empty ListSet of this generation (`pconf`, the pool the
// directive's config lives in), named after `directive` ("file:line").
// Throws.
ListSet* new_list_set(apr_pool_t* pconf, const ap_directive_t* directive);
// This generation's global settings, for their directives. Throws.
GlobalSettings& global_settings(apr_pool_t* pconf);

// check_config: every source's table, as described above. False when a list
// fails the configuration (logged).
bool load_list_sets(apr_pool_t* pconf, server_rec* s);
// test_config: what post_config would log, on stderr.
void report_list_sets(apr_pool_t* pconf, server_rec* s);
// post_config.
void finish_list_sets(apr_pool_t* pconf, server_rec* s);
// child_init (cidr_reload_glue.cpp). Throws.
void start_reloads(apr_pool_t* pchild, server_rec* s);

// mod_status: what each context's table holds. Throws.
void print_list_sets(request_rec* r, int flags);

// The generation's parts the reload glue needs. Null when there is no
// generation (no lists).
struct ReloadParts {
  GlobalSettings settings;
  cidr::ImageStore* store = nullptr;
  cidr::ReloadBoard* board = nullptr;
  uid_t parent_uid = 0;
  uid_t children_uid = 0;
  std::vector<TableSource*> sources;
};
bool reload_parts(apr_pool_t* pconf, ReloadParts& out);

}  // namespace cidrglue
