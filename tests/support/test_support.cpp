#include "test_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace ota::test {

namespace fs = std::filesystem;

fs::path source_dir() {
  const char* env = std::getenv("OTA_SOURCE_DIR");
  return (env && *env) ? fs::path(env) : fs::path(OTA_DEFAULT_SOURCE_DIR);
}

fs::path bin_dir() {
  const char* env = std::getenv("OTA_BIN_DIR");
  return (env && *env) ? fs::path(env) : fs::path(OTA_DEFAULT_BIN_DIR);
}

fs::path python() {
  const char* env = std::getenv("OTA_PYTHON");
  return (env && *env) ? fs::path(env) : fs::path(OTA_DEFAULT_PYTHON);
}

std::optional<fs::path> corpus_dir() {
  if (const char* env = std::getenv("OTA_CORPUS"); env && *env) {
    if (fs::exists(fs::path(env) / "MANIFEST.tsv")) return fs::path(env);
    return std::nullopt;
  }
  fs::path c = source_dir() / ".." / "shared" / "corpus";
  if (fs::exists(c / "MANIFEST.tsv")) return fs::weakly_canonical(c);
  return std::nullopt;
}

std::vector<CorpusPair> corpus_pairs(const fs::path& corpus) {
  std::ifstream f(corpus / "MANIFEST.tsv");
  std::string line;
  std::getline(f, line);  // column names
  std::vector<CorpusPair> pairs;
  std::string prev_series, prev_version;
  while (std::getline(f, line)) {
    std::istringstream row(line);
    std::string series, version;
    std::getline(row, series, '\t');
    std::getline(row, version, '\t');
    if (series.empty()) continue;
    if (series == prev_series)
      pairs.push_back({series, prev_version, version, corpus / series / (prev_version + ".bin"),
                       corpus / series / (version + ".bin")});
    prev_series = series;
    prev_version = version;
  }
  return pairs;
}

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + p.string());
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::vector<uint8_t>& data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

fs::path make_temp_dir(const std::string& tag) {
  std::string tmpl = (fs::temp_directory_path() / ("ota-" + tag + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

}  // namespace ota::test
