// The ota-delta command line as a user meets it: success paths, and every
// error is one line on stderr, a non-zero exit, and no partial output file.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "ota/crc32.h"
#include "ota/patch_format.h"
#include "test_support.h"

namespace ota {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int exit_code;
  std::string out, err;
};

class OtaDeltaCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tool_ = test::bin_dir() / "ota-delta";
    ASSERT_TRUE(fs::exists(tool_)) << tool_;
    dir_ = test::make_temp_dir("cli");
    std::mt19937 rng(21);
    old_ = test::synthetic_image(rng, 150000);
    new_ = test::mutate_image(rng, old_, 50);
    test::write_file(dir_ / "old.bin", old_);
    test::write_file(dir_ / "new.bin", new_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CliRun run(const std::string& args) {
    std::string cmd = "'" + tool_.string() + "' " + args + " >'" + (dir_ / "stdout").string() +
                      "' 2>'" + (dir_ / "stderr").string() + "'";
    int rc = std::system(cmd.c_str());
    auto slurp = [](const fs::path& p) {
      std::ifstream f(p);
      std::stringstream ss;
      ss << f.rdbuf();
      return ss.str();
    };
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(dir_ / "stdout"), slurp(dir_ / "stderr")};
  }
  std::string p(const char* name) { return "'" + (dir_ / name).string() + "'"; }

  // Asserts a failed run: non-zero exit, exactly one stderr line containing
  // `needle`, and no file named `out` left behind (nor temporaries).
  void expect_clean_failure(const CliRun& r, const std::string& needle, const char* out) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir_ / out));
    for (auto& e : fs::directory_iterator(dir_))
      EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }

  fs::path tool_, dir_;
  std::vector<uint8_t> old_, new_;
};

TEST_F(OtaDeltaCli, DiffApplyInfo) {
  ASSERT_EQ(run("diff " + p("old.bin") + " " + p("new.bin") + " " + p("p.otad")).exit_code, 0);
  CliRun a = run("apply " + p("old.bin") + " " + p("p.otad") + " " + p("out.bin"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(test::read_file(dir_ / "out.bin"), new_);
  CliRun i = run("info " + p("p.otad"));
  ASSERT_EQ(i.exit_code, 0);
  EXPECT_NE(i.out.find("codec           lzma (lc=1 lp=0 pb=0, dictionary 16384 bytes)"),
            std::string::npos) << i.out;
  EXPECT_NE(i.out.find("transform       none"), std::string::npos) << i.out;
  CliRun j = run("info --json " + p("p.otad"));
  ASSERT_EQ(j.exit_code, 0);
  EXPECT_NE(j.out.find("\"device_ram\":"), std::string::npos);
  EXPECT_NE(j.out.find("\"complete\":\"yes\""), std::string::npos);
}

// Two ESP app images of one chip: firmware-aware by default, plain with
// --plain; other inputs stay plain (DiffApplyInfo's synthetic images).
TEST_F(OtaDeltaCli, FirmwareAwareByDefaultAndPlainByFlag) {
  auto corpus = test::corpus_dir();
  if (!corpus) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  std::optional<test::CorpusPair> pair;
  for (const auto& c : test::corpus_pairs(*corpus))
    if (c.series == "awtrix3-ulanzi-tc001" && c.old_version == "0.86") pair = c;
  if (!pair) GTEST_SKIP() << "pair not in the corpus";
  std::string o = "'" + pair->old_path.string() + "'", n = "'" + pair->new_path.string() + "'";
  auto new_image = test::read_file(pair->new_path);
  ASSERT_EQ(run("diff " + o + " " + n + " " + p("r.otad")).exit_code, 0);
  ASSERT_EQ(run("diff --plain " + o + " " + n + " " + p("q.otad")).exit_code, 0);
  CliRun ri = run("info " + p("r.otad"));
  EXPECT_NE(ri.out.find("transform       reloc v1 (chip 0), side data "), std::string::npos) << ri.out;
  EXPECT_NE(run("info --json " + p("r.otad")).out.find("\"transform\":1,\"transform_version\":1,\"side_size\":"),
            std::string::npos);
  EXPECT_NE(run("info " + p("q.otad")).out.find("transform       none"), std::string::npos);
  EXPECT_LT(fs::file_size(dir_ / "r.otad"), fs::file_size(dir_ / "q.otad"));
  for (const char* f : {"r.otad", "q.otad"}) {
    ASSERT_EQ(run("apply " + o + " " + p(f) + " " + p("out.bin")).exit_code, 0) << f;
    EXPECT_EQ(test::read_file(dir_ / "out.bin"), new_image);
  }
  // The plain patch fits 32 KiB of device RAM; the firmware-aware one does not.
  ASSERT_EQ(run("apply --ram 32768 " + o + " " + p("q.otad") + " " + p("out.bin")).exit_code, 0);
  expect_clean_failure(run("apply --ram 32768 " + o + " " + p("r.otad") + " " + p("o32.bin")),
                       "more RAM", "o32.bin");
}

TEST_F(OtaDeltaCli, CodecAndDictionaryOptions) {
  ASSERT_EQ(run("diff --codec none " + p("old.bin") + " " + p("new.bin") + " " + p("n.otad")).exit_code, 0);
  ASSERT_EQ(run("diff --dict 64K " + p("old.bin") + " " + p("new.bin") + " " + p("d.otad")).exit_code, 0);
  EXPECT_NE(run("info " + p("n.otad")).out.find("codec           none"), std::string::npos);
  EXPECT_NE(run("info " + p("d.otad")).out.find("dictionary 65536 bytes"), std::string::npos);
  for (const char* f : {"n.otad", "d.otad"}) {
    ASSERT_EQ(run("apply " + p("old.bin") + " " + p(f) + " " + p("out.bin")).exit_code, 0);
    EXPECT_EQ(test::read_file(dir_ / "out.bin"), new_);
  }
  // A device with less RAM than the patch needs refuses it.
  CliRun small = run("apply --ram 20000 " + p("old.bin") + " " + p("d.otad") + " " + p("small.bin"));
  expect_clean_failure(small, "more RAM", "small.bin");
}

TEST_F(OtaDeltaCli, WrongBaseImage) {
  ASSERT_EQ(run("diff " + p("old.bin") + " " + p("new.bin") + " " + p("p.otad")).exit_code, 0);
  expect_clean_failure(run("apply " + p("new.bin") + " " + p("p.otad") + " " + p("out.bin")),
                       "wrong base image", "out.bin");
}

TEST_F(OtaDeltaCli, TruncatedAndCorruptPatches) {
  ASSERT_EQ(run("diff " + p("old.bin") + " " + p("new.bin") + " " + p("p.otad")).exit_code, 0);
  auto patch = test::read_file(dir_ / "p.otad");
  for (size_t cut : {size_t{0}, size_t{50}, size_t{108}, size_t{200}, patch.size() - 1}) {
    test::write_file(dir_ / "t.otad", {patch.begin(), patch.begin() + static_cast<long>(cut)});
    expect_clean_failure(run("apply " + p("old.bin") + " " + p("t.otad") + " " + p("out.bin")),
                         cut < 108 ? "truncated" : "", "out.bin");
  }
  auto bad = patch;
  bad[300] ^= 0x40;
  test::write_file(dir_ / "c.otad", bad);
  expect_clean_failure(run("apply " + p("old.bin") + " " + p("c.otad") + " " + p("out.bin")),
                       "apply failed", "out.bin");
  bad = patch;
  bad[20] ^= 1;  // header byte: CRC catches it
  test::write_file(dir_ / "h.otad", bad);
  expect_clean_failure(run("apply " + p("old.bin") + " " + p("h.otad") + " " + p("out.bin")),
                       "CRC", "out.bin");
}

TEST_F(OtaDeltaCli, UnknownCodecAndSizeMismatch) {
  ASSERT_EQ(run("diff " + p("old.bin") + " " + p("new.bin") + " " + p("p.otad")).exit_code, 0);
  auto patch = test::read_file(dir_ / "p.otad");
  auto reseal = [](std::vector<uint8_t>& b) { store_le32(b.data() + 104, crc32_update(0, b.data(), 104)); };
  auto bad = patch;
  bad[5] = 7;
  reseal(bad);
  test::write_file(dir_ / "u.otad", bad);
  expect_clean_failure(run("apply " + p("old.bin") + " " + p("u.otad") + " " + p("out.bin")),
                       "unknown codec", "out.bin");
  expect_clean_failure(run("info " + p("u.otad")), "unknown codec", "out.bin");
  bad = patch;
  store_le32(bad.data() + 24, load_le32(bad.data() + 24) + 100);
  reseal(bad);
  test::write_file(dir_ / "s.otad", bad);
  expect_clean_failure(run("apply " + p("old.bin") + " " + p("s.otad") + " " + p("out.bin")),
                       "size mismatch", "out.bin");
}

TEST_F(OtaDeltaCli, UsageErrors) {
  CliRun r = run("");
  EXPECT_EQ(r.exit_code, 2);
  r = run("diff " + p("old.bin"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  r = run("diff --codec zip " + p("old.bin") + " " + p("new.bin") + " " + p("x"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown codec"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "x"));
  r = run("diff --dict 100 " + p("old.bin") + " " + p("new.bin") + " " + p("x"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(fs::exists(dir_ / "x"));
  r = run("apply " + p("missing.bin") + " " + p("new.bin") + " " + p("x"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot open"), std::string::npos);
}

// --firmware-aware forces transform 1 on ESP app images (synthetic ones
// here, where it need not be smaller) and refuses other inputs cleanly.
TEST_F(OtaDeltaCli, FirmwareAwareFlag) {
  std::mt19937 rng(4);
  auto code = test::synthetic_image(rng, 60000);
  test::write_file(dir_ / "a.bin", test::synthetic_esp32_app("1.0.0", "demo", code));
  test::write_file(dir_ / "b.bin", test::synthetic_esp32_app("1.0.1", "demo", test::mutate_image(rng, code, 20)));
  ASSERT_EQ(run("diff --firmware-aware " + p("a.bin") + " " + p("b.bin") + " " + p("f.otad")).exit_code, 0);
  CliRun info = run("info " + p("f.otad"));
  EXPECT_NE(info.out.find("reloc v1 (chip 0)"), std::string::npos) << info.out;
  ASSERT_EQ(run("apply " + p("a.bin") + " " + p("f.otad") + " " + p("b2.bin")).exit_code, 0);
  EXPECT_EQ(test::read_file(dir_ / "b2.bin"), test::read_file(dir_ / "b.bin"));
  // Not ESP images: a one-line error, no file.
  expect_clean_failure(run("diff --firmware-aware " + p("old.bin") + " " + p("new.bin") + " " + p("g.otad")),
                       "no firmware-aware patch", "g.otad");
  CliRun both = run("diff --plain --firmware-aware " + p("a.bin") + " " + p("b.bin") + " " + p("h.otad"));
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("exclude each other"), std::string::npos) << both.err;
  EXPECT_FALSE(fs::exists(dir_ / "h.otad"));
}

TEST_F(OtaDeltaCli, Bsdiff40FormatWorksWithDebianBspatch) {
  if (std::system("command -v bspatch >/dev/null 2>&1") != 0)
    GTEST_FAIL() << "Debian's bspatch is not installed (package bsdiff; make deps installs it)";
  ASSERT_EQ(run("diff --format bsdiff40 " + p("old.bin") + " " + p("new.bin") + " " + p("b.patch")).exit_code, 0);
  ASSERT_EQ(std::system(("bspatch " + p("old.bin") + " " + p("b.out") + " " + p("b.patch")).c_str()), 0);
  EXPECT_EQ(test::read_file(dir_ / "b.out"), new_);
}

}  // namespace
}  // namespace ota
