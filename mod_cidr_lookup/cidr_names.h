// The names mod_cidr_lookup publishes its answer under, and the rules that
// keep a client from supplying its own answer under any spelling of them.
//
// httpd and the software behind it read one name in many spellings:
// mod_setenvif's `SetEnvIf NAME` reads a request header NAME (compared
// ignoring case) before the environment variable NAME; CGI, WSGI and Rack
// turn a header into HTTP_ + its name upper-cased with '-' made '_', so
// `X_Client-Type` and `X-Client-Type` both become HTTP_X_CLIENT_TYPE. So two
// names are "the same field" when they are equal ignoring case and treating
// '_' and '-' alike.
//
// No httpd headers: unit-tested on its own.
#pragma once

#include <string_view>

namespace cidr {

// Equal ignoring ASCII case and treating '_' and '-' as one character.
bool same_field_name(std::string_view a, std::string_view b);

// Why `name` may not be the CIDRLookupHeader (a framing, hop-by-hop,
// routing or credentials header, whose meaning httpd, proxies or backends
// already fix), or nullptr when it may.
const char* reserved_header_reason(std::string_view name);

// Why `name` may not be CIDRLookupEnv or CIDRLookupNetworkEnv (a variable
// CGI or httpd gives a meaning, or one whose header spelling would make the
// module strip a header the request needs), or nullptr when it may.
const char* reserved_env_reason(std::string_view name);

}  // namespace cidr
