// SPDX-License-Identifier: Apache-2.0
//
// What every otactl command shares: the options, one client of the admin
// API (libcurl, a bearer token, an optional private CA), the server's
// errors as exceptions, the flag parser and the table printers.
#ifndef OTACTL_CLI_H
#define OTACTL_CLI_H

#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace otactl {

using nlohmann::json;

// A mistake in the command line: exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string server = "http://127.0.0.1:8000";
  std::string token;
  std::string cacert;  // CA that signs an https server's certificate (else the system's)
  bool json = false;
  std::vector<std::string> args;
};

struct Response {
  long status = 0;
  std::string body;
};

class Client {
 public:
  explicit Client(const Options& o) : o_(o) {}
  // One exchange; throws std::runtime_error when the server is not reached.
  Response request(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& content_type = "", bool show_progress = false);
  // The JSON body of a 2xx answer; otherwise the server's error ("409
  // code: message") as a std::runtime_error.
  json ok(const Response& r);

 private:
  const Options& o_;
};

std::string read_file(const std::string& path);

// A JSON value as a table cell: strings bare, null "-", booleans yes/no.
std::string cell(const json& v);
using Columns = std::vector<std::pair<std::string, std::string>>;  // key, title
// A readable table of `rows` (objects) with the given columns.
void print_table(const json& rows, const Columns& columns);
void print_object(const json& o);

// The flags of a subcommand: the words in `positional`, the `--name value`
// pairs in `values` (only the names in `allowed`), the bare `--name`s of
// `switches` in `values` with the value "true".
struct Flags {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  bool has(const std::string& name) const { return values.count(name) > 0; }
};
Flags parse_flags(const std::vector<std::string>& a, size_t from, const std::vector<std::string>& allowed,
                  const std::string& usage, const std::vector<std::string>& switches = {});

// URL-escaped (a path segment or a query value).
std::string escaped(const std::string& s);

}  // namespace otactl

#endif  // OTACTL_CLI_H
