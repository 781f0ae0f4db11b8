// cidr-lookup: load CIDR lists exactly as mod_cidr_lookup does and look
// addresses up in them, so a list can be tried before httpd is reloaded.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cidr_loader.h"
#include "cidr_parse.h"
#include "image_store.h"
#include "prefix_table.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

void usage(std::FILE* out) {
  std::fputs(
      "usage: cidr-lookup [-f PATH_OR_GLOB]... [-m MAPFILE]... [--check] [--compile PATH] [IP...]\n"
      "       cidr-lookup --image IMAGE [--check] [IP...]\n"
      "\n"
      "  -f, --file PATH_OR_GLOB  a list per file (the file name is the client type),\n"
      "                           like CIDRFile; a directory loads the files in it\n"
      "  -m, --map PATH_OR_GLOB   'CIDR TYPE' lines, like CIDRMap\n"
      "  --check                  only validate the lists (or the image); exit 1 on any error\n"
      "  --compile PATH           write the table as an image: to PATH, or, when PATH is a\n"
      "                           directory (httpd's image directory), under the name httpd\n"
      "                           looks for (lists named by the paths httpd.conf uses)\n"
      "  --image IMAGE            look up in (or check) an image instead of lists\n"
      "  -h, --help               this text\n"
      "\n"
      "Prints 'IP TYPE NETWORK' for each IP given, or for each line of standard\n"
      "input when none is given; '-' marks no match. Errors are 'file:line: reason'.\n",
      out);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::strchr(" \t\r\n", s.front()) != nullptr) s.remove_prefix(1);
  while (!s.empty() && std::strchr(" \t\r\n", s.back()) != nullptr) s.remove_suffix(1);
  return s;
}

// Returns false when `text` is not an address.
bool print_lookup(const cidr::PrefixTable& table, std::string_view text) {
  cidr::Address addr;
  if (!cidr::parse_address(text, addr)) {
    std::fflush(stdout);
    std::fprintf(stderr, "cidr-lookup: invalid IP address '%.*s'\n", int(text.size()), text.data());
    return false;
  }
  cidr::Match m;
  std::string line(text);
  if (table.lookup(addr, m)) {
    line += ' ';
    line += table.type_name(m.type);
    line += ' ';
    line += cidr::format_prefix(m.network);
  } else {
    line += " - -";
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  return true;
}

// Writes the image: into PATH under httpd's name for it when PATH is a
// directory, else as PATH.
bool compile(const cidr::PrefixTable& table, const std::string& path) {
  std::string error, written = path;
  struct stat st;
  bool ok;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    auto store = cidr::ImageStore::open_existing(path, error);
    std::string name;
    ok = store && store->write(table, name, error);
    written = path + "/" + name;
  } else {
    ok = cidr::write_image_file(path, table, error);
  }
  if (!ok) {
    std::fprintf(stderr, "cidr-lookup: %s\n", error.c_str());
    return false;
  }
  std::printf("wrote %s\n", written.c_str());
  return true;
}

int run(int argc, char** argv) {
  std::vector<cidr::ListSpec> specs;
  std::vector<std::string> ips;
  std::string compile_to, image;
  bool check_only = false;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
      ips.push_back(arg);
      continue;
    }
    cidr::FileKind kind;
    std::string value;
    auto take_value = [&](const std::string& name) -> bool {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "cidr-lookup: %s needs an argument\n", name.c_str());
        return false;
      }
      value = argv[++i];
      return true;
    };
    if (arg == "--") {
      options_done = true;
      continue;
    } else if (arg == "--check") {
      check_only = true;
      continue;
    } else if (arg == "--compile" || arg == "--image") {
      if (!take_value(arg)) return kExitUsage;
      (arg == "--compile" ? compile_to : image) = value;
      continue;
    } else if (arg.compare(0, 10, "--compile=") == 0) {
      compile_to = arg.substr(10);
      continue;
    } else if (arg.compare(0, 8, "--image=") == 0) {
      image = arg.substr(8);
      continue;
    } else if (arg == "-h" || arg == "--help") {
      usage(stdout);
      return kExitOk;
    } else if (arg == "-f" || arg == "--file" || arg == "-m" || arg == "--map") {
      kind = (arg == "-f" || arg == "--file") ? cidr::FileKind::List : cidr::FileKind::Map;
      if (!take_value(arg)) return kExitUsage;
    } else if (arg.compare(0, 2, "-f") == 0 || arg.compare(0, 2, "-m") == 0) {
      kind = arg[1] == 'f' ? cidr::FileKind::List : cidr::FileKind::Map;
      value = arg.substr(2);
    } else if (arg.compare(0, 7, "--file=") == 0) {
      kind = cidr::FileKind::List;
      value = arg.substr(7);
    } else if (arg.compare(0, 6, "--map=") == 0) {
      kind = cidr::FileKind::Map;
      value = arg.substr(6);
    } else {
      std::fprintf(stderr, "cidr-lookup: unknown option '%s'\n", arg.c_str());
      usage(stderr);
      return kExitUsage;
    }
    specs.push_back(cidr::ListSpec{kind, value});
  }
  if (!image.empty() && (!specs.empty() || !compile_to.empty())) {
    std::fputs("cidr-lookup: --image takes no lists and no --compile\n", stderr);
    return kExitUsage;
  }
  if (specs.empty() && image.empty()) {
    std::fputs("cidr-lookup: no lists given (use -f or -m)\n", stderr);
    usage(stderr);
    return kExitUsage;
  }

  std::unique_ptr<cidr::PrefixTable> table;
  if (!image.empty()) {
    std::string error;
    table = cidr::read_image_file(image, error);
    if (!table) {
      std::fprintf(stderr, "%s: not a usable image: %s\n", image.c_str(), error.c_str());
      return kExitFailed;
    }
    if (check_only) {
      std::printf("OK: image of %zu networks (%zu IPv4, %zu IPv6), %zu client types, %zu bytes\n",
                  table->size(), table->size_v4(), table->size_v6(), table->type_count(),
                  table->memory_bytes());
      return kExitOk;
    }
  } else {
    // Operators run --check to see every problem at once, so keep them all.
    cidr::Diagnostics diag(1000);
    cidr::Loader loader;
    for (const cidr::ListSpec& spec : specs) loader.load(spec, diag);
    size_t files = loader.file_count();
    if (!diag.has_errors()) table = loader.build(diag);
    for (const std::string& w : diag.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
    for (const std::string& n : diag.notices()) std::fprintf(stderr, "notice: %s\n", n.c_str());
    if (diag.has_errors()) {
      for (const std::string& e : diag.errors()) std::fprintf(stderr, "%s\n", e.c_str());
      return kExitFailed;
    }
    if (!compile_to.empty()) {
      // Named after the lists as given: with the paths httpd.conf names,
      // CIDRLookupOnError keep finds this image too.
      cidr::TableInfo info = table->info();
      info.config_key = cidr::specs_key(specs);
      table->set_info(info);
      if (!compile(*table, compile_to)) return kExitFailed;
    }
    if (check_only || !compile_to.empty()) {
      std::printf("OK: %zu networks (%zu IPv4, %zu IPv6), %zu client types, %zu files\n",
                  table->size(), table->size_v4(), table->size_v6(), table->type_count(), files);
      if (ips.empty()) return kExitOk;
    }
  }

  bool all_valid = true;
  if (!ips.empty()) {
    for (const std::string& ip : ips) all_valid &= print_lookup(*table, trim(ip));
  } else {
    std::string line;
    while (std::getline(std::cin, line)) {
      std::string_view text = line;
      size_t hash = text.find('#');
      if (hash != std::string_view::npos) text = text.substr(0, hash);
      text = trim(text);
      if (text.empty()) continue;
      all_valid &= print_lookup(*table, text);
    }
  }
  std::fflush(stdout);
  return all_valid ? kExitOk : kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cidr-lookup: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "cidr-lookup: unexpected failure\n");
  }
  return kExitFailed;
}
