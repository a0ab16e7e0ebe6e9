// SPDX-License-Identifier: Apache-2.0
//
// The dependency check (tools/check-deps): check_deps.py on this build's
// own records and on a made-up dpkg database, and the recorder
// (libota_deps_record.so) on real processes.
//
// The first case is the fault that made the check: on the tree before the
// fix, DEB_PACKAGES had neither libpq-dev nor libboost-dev, and a fresh
// Debian 12 built without the server. Run against the Makefile's list
// without those two, the check must name both, with the headers that need them.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace ota::test {
namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string out;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs a shell command; stdout and stderr together.
Result run(const std::string& cmd) {
  Result r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string check_deps(const std::string& args) {
  return std::string(OTA_PYTHON) + " " + quote(OTA_CHECK_DEPS) + " " + args;
}

// The Makefile's DEB_PACKAGES, as `make print-packages` prints it.
std::vector<std::string> makefile_packages() {
  Result r = run("make -s --no-print-directory -C " + quote(source_dir().string()) + " print-packages");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::istringstream in(r.out);
  std::vector<std::string> out;
  for (std::string p; in >> p;) out.push_back(p);
  return out;
}

std::string join_without(const std::vector<std::string>& list, const std::vector<std::string>& drop) {
  std::string s;
  for (const auto& p : list)
    if (std::find(drop.begin(), drop.end(), p) == drop.end()) s += p + " ";
  return s;
}

// --- on this build's records ----------------------------------------------------

TEST(CheckDepsOnThisBuild, NamesLibpqAndBoostWhenTheListLacksThem) {
  std::vector<std::string> listed = makefile_packages();
  ASSERT_NE(std::find(listed.begin(), listed.end(), "libboost-dev"), listed.end());
  ASSERT_NE(std::find(listed.begin(), listed.end(), "libpq-dev"), listed.end());
  std::string args = "--shallow --build-dir " + quote(OTA_BUILD_DIR) + " --ignore " +
                     quote(source_dir().string()) + " --packages ";
  // Today's list, as it was before the fix.
  Result before = run(check_deps(args + quote(join_without(listed, {"libboost-dev", "libpq-dev"}))));
  EXPECT_EQ(before.exit_code, 1) << before.out;
  EXPECT_TRUE(std::regex_search(before.out, std::regex(
      "missing package libboost[0-9.]*-dev \\(or a package that depends on it: [^)]*libboost-dev")))
      << before.out;
  EXPECT_NE(before.out.find("/usr/include/boost/"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("missing package libpq-dev"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("libpq-fe.h (included by "), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("ota_store.dir"), std::string::npos) << "names the object: " << before.out;
  // The list as it is: the build's headers, libraries and programs are covered.
  Result now = run(check_deps(args + quote(join_without(listed, {}))));
  EXPECT_EQ(now.exit_code, 0) << now.out;
  EXPECT_NE(now.out.find("check-deps: ok"), std::string::npos) << now.out;
}

// --- the recorder ------------------------------------------------------------------

class Recorder : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir("deps-record"); }
  void TearDown() override { fs::remove_all(dir_); }
  // Runs `cmd` under sh with the recorder preloaded; the log's lines.
  Result recorded(const std::string& cmd) {
    return run("cd " + quote(dir_.string()) + " && OTA_DEPS_RECORD=" + quote(log().string()) +
               " LD_PRELOAD=" + quote(OTA_DEPS_RECORD_LIB) + " /bin/sh -c " + quote(cmd));
  }
  fs::path log() const { return dir_ / "record.log"; }
  std::string log_text() const {
    std::ifstream in(log());
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  fs::path dir_;
};

TEST_F(Recorder, RecordsProgramsTheirInterpretersModulesAndHeaders) {
  std::ofstream(dir_ / "script") << "#!/usr/bin/python3\nimport json\n";
  fs::permissions(dir_ / "script", fs::perms::owner_all);
  std::ofstream(dir_ / "t.cpp") << "#include <openssl/sha.h>\n";
  Result r = recorded(std::string(OTA_BSPATCH) + " >/dev/null 2>&1; ./script && env true && "
                   "g++ -fsyntax-only t.cpp && echo done");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("done"), std::string::npos) << r.out;
  std::string text = log_text();
  auto has = [&](const std::string& line) {
    EXPECT_NE(text.find(line), std::string::npos) << "no '" << line << "' in:\n" << text;
  };
  has(std::string("exec\t") + OTA_BSPATCH + "\t");       // started by sh, as named
  has(std::string("exe\t") + OTA_BSPATCH + "\t");        // and the process itself
  has("exec\t/usr/bin/python3\t");                        // a script's "#!" interpreter
  // A Python module it imported (its byte code, when __pycache__ has it).
  EXPECT_TRUE(std::regex_search(text, std::regex("open\t/usr/lib/python3[.0-9]*/json/"
                                                 "(__pycache__/)?__init__\\.")))
      << text;
  has("exec\t/usr/bin/env\t");
  has("exec\t/usr/bin/true\t");                           // env's PATH search
  has("open\t/usr/include/openssl/sha.h\t");              // a header a compiler read
  EXPECT_EQ(text.find("/nonexistent"), std::string::npos);
}

TEST_F(Recorder, ChangesNoBehaviour) {
  // errno and results pass through: a missing file is still "No such file".
  Result r = recorded("cat /nonexistent-file; echo rc=$?; env no-such-program-x; echo rc=$?");
  EXPECT_NE(r.out.find("No such file or directory"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rc=1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rc=127"), std::string::npos) << r.out;
  // Failed tries of a PATH search are not uses.
  EXPECT_EQ(log_text().find("no-such-program-x"), std::string::npos) << log_text();
}

TEST_F(Recorder, ItsLogFeedsTheCheck) {
  Result r = recorded(std::string(OTA_BSPATCH) + " >/dev/null 2>&1; true");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::vector<std::string> listed = makefile_packages();
  std::string args = "--record " + quote(log().string()) + " --packages ";
  Result without = run(check_deps(args + quote(join_without(listed, {"bsdiff"}))));
  EXPECT_EQ(without.exit_code, 1) << without.out;
  EXPECT_NE(without.out.find("missing package bsdiff"), std::string::npos) << without.out;
  EXPECT_NE(without.out.find(std::string(OTA_BSPATCH) + " (started by /usr/bin/dash)"), std::string::npos)
      << without.out;
  Result with = run(check_deps(args + quote(join_without(listed, {}))));
  EXPECT_EQ(with.exit_code, 0) << with.out;
}

// --- on a made-up dpkg database ---------------------------------------------------

// A dpkg database (status and info/*.list) of the packages given, and a
// record log, in a temp dir; check() runs check_deps.py on them.
class FakeDpkg : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("deps-fake");
    fs::create_directories(dir_ / "dpkg" / "info");
    // What every Debian has (priority required) and the libc it needs.
    add("dpkg", "", {"/usr/bin/dpkg"}, "required");
    add("libc6", "", {"/lib/x86_64-linux-gnu/libc.so.6"}, "optional");
    add("bash", "Pre-Depends: libc6", {"/usr/bin/bash"}, "required");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void add(const std::string& name, const std::string& relations, const std::vector<std::string>& files,
           const std::string& priority = "optional") {
    std::ofstream status(dir_ / "dpkg" / "status", std::ios::app);
    status << "Package: " << name << "\nStatus: install ok installed\nPriority: " << priority
           << "\nArchitecture: amd64\nVersion: 1.0\n";
    if (!relations.empty()) status << relations << "\n";
    status << "Description: " << name << "\n\n";
    std::ofstream list(dir_ / "dpkg" / "info" / (name + ":amd64.list"));
    list << "/.\n/usr\n";
    for (const auto& f : files) list << f << "\n";
  }
  void use(const std::string& kind, const std::string& path, const std::string& by = "/usr/bin/bash") {
    std::ofstream(dir_ / "record.log", std::ios::app) << kind << "\t" << path << "\t" << by << "\n";
  }
  Result check(const std::string& packages) {
    std::ofstream(dir_ / "record.log", std::ios::app).flush();
    return run(check_deps("--admindir " + quote((dir_ / "dpkg").string()) + " --record " +
                          quote((dir_ / "record.log").string()) + " --packages " + quote(packages)));
  }
  fs::path dir_;
};

TEST_F(FakeDpkg, AMetapackagesDependsCoverAndItIsSuggested) {
  add("libboost1.74-dev", "", {"/usr/include/boost/config.hpp"});
  add("libboost-dev", "Depends: libboost1.74-dev (>= 1.74)", {});
  add("libsoci-dev", "", {"/usr/include/soci/soci.h"});
  use("header", "/usr/include/soci/soci.h");
  use("header", "/usr/include/boost/config.hpp");
  Result missing = check("libsoci-dev");
  EXPECT_EQ(missing.exit_code, 1) << missing.out;
  EXPECT_NE(missing.out.find("missing package libboost1.74-dev (or a package that depends on it: "
                             "libboost-dev), needed for 1 file(s)"),
            std::string::npos) << missing.out;
  EXPECT_NE(missing.out.find("/usr/include/boost/config.hpp (included by /usr/bin/bash)"), std::string::npos)
      << missing.out;
  Result ok = check("libsoci-dev libboost-dev");
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
}

TEST_F(FakeDpkg, RecommendsDoNotCount) {
  add("picolibc", "", {"/usr/lib/picolibc/stdio.h"});
  add("gcc-cross", "Depends: libc6\nRecommends: picolibc", {"/usr/bin/cross-gcc"});
  use("exec", "/usr/bin/cross-gcc");
  use("open", "/usr/lib/picolibc/stdio.h", "/usr/bin/cross-gcc");
  Result r = check("gcc-cross");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("missing package picolibc"), std::string::npos) << r.out;
  EXPECT_EQ(check("gcc-cross picolibc").exit_code, 0);
}

TEST_F(FakeDpkg, OnlyTheFirstAlternativeCountsAndVirtualsResolve) {
  add("mawk", "", {"/usr/bin/mawk"});
  add("gawk", "", {"/usr/bin/gawk"});
  add("tool", "Depends: mawk | gawk, www-browser", {"/usr/bin/tool"});
  add("lynx", "Provides: www-browser", {"/usr/bin/lynx"});
  use("exec", "/usr/bin/tool");
  use("exec", "/usr/bin/mawk");
  use("exec", "/usr/bin/lynx");
  EXPECT_EQ(check("tool").exit_code, 0) << check("tool").out;
  // A fresh apt installs mawk for "mawk | gawk": gawk is not there.
  use("exec", "/usr/bin/gawk");
  Result r = check("tool");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("missing package gawk"), std::string::npos) << r.out;
}

TEST_F(FakeDpkg, AFreshSystemsPackagesNeedNoListing) {
  use("exe", "/usr/bin/bash");
  use("ldd", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/bin/bash");  // merged /usr
  use("exec", "/usr/bin/dpkg");
  Result r = check("bash");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  add("tool", "", {"/usr/bin/tool"});
  EXPECT_EQ(check("tool").exit_code, 0) << "bash, priority required, is on every Debian";
}

TEST_F(FakeDpkg, WhatNoPackageOwnsFailsForProgramsAndModulesOnly) {
  add("python3", "", {"/usr/lib/python3/dist-packages/ok/__init__.py"});
  use("open", "/usr/lib/locale/locale-archive");  // a cache: ignored
  use("open", "/usr/lib/python3/dist-packages/ok/__pycache__/__init__.cpython-311.pyc", "/usr/bin/python3.11");
  EXPECT_EQ(check("python3").exit_code, 0) << check("python3").out;
  use("exe", "/root/.pyenv/versions/3.11.7/bin/python3.11");
  use("open", "/usr/local/lib/python3.11/dist-packages/requests/__init__.py", "/usr/bin/python3.11");
  Result r = check("python3");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("/root/.pyenv/versions/3.11.7/bin/python3.11 (run as /usr/bin/bash) belongs to no "
                       "Debian package"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/usr/local/lib/python3.11/dist-packages/requests/__init__.py"), std::string::npos)
      << r.out;
}

TEST_F(FakeDpkg, WhatPythonsSiteLoadsForWhateverIsInstalledIsNoNeed) {
  add("python3-setuptools", "", {"/usr/lib/python3/dist-packages/distutils-precedence.pth",
                                 "/usr/lib/python3/dist-packages/_distutils_hack/__init__.py",
                                 "/usr/lib/python3/dist-packages/setuptools/__init__.py"});
  use("open", "/usr/lib/python3/dist-packages/distutils-precedence.pth", "/usr/bin/python3.11");
  use("open", "/usr/lib/python3/dist-packages/_distutils_hack/__init__.py", "/usr/bin/python3.11");
  Result r = check("bash");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  // An import of the package itself is a need.
  use("open", "/usr/lib/python3/dist-packages/setuptools/__init__.py", "/usr/bin/python3.11");
  r = check("bash");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("missing package python3-setuptools"), std::string::npos) << r.out;
}

TEST_F(FakeDpkg, AListedPackageThatIsNotInstalledIsAnError) {
  Result r = check("bash no-such-package");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("no-such-package is in the Makefile's lists but not installed"), std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace ota::test
