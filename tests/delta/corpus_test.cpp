// Every consecutive pair of the real firmware corpus, at the default setting:
// the patch applies with the device decoder, fits 32 KiB of device RAM, and
// stays smaller than the full image.
#include <gtest/gtest.h>

#include "ota/delta/patch_apply.h"
#include "ota/delta/patch_encoder.h"
#include "test_support.h"

namespace ota::delta {
namespace {

class CorpusPairTest : public ::testing::TestWithParam<int> {};

TEST_P(CorpusPairTest, DefaultPatchRoundTrips) {
  auto corpus = test::corpus_dir();
  if (!corpus) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  auto pairs = test::corpus_pairs(*corpus);
  if (GetParam() >= static_cast<int>(pairs.size())) GTEST_SKIP() << "corpus has fewer pairs";
  const auto& p = pairs[static_cast<size_t>(GetParam())];
  SCOPED_TRACE(p.series + " " + p.old_version + " -> " + p.new_version);
  auto old_image = test::read_file(p.old_path);
  auto new_image = test::read_file(p.new_path);
  std::vector<uint8_t> patch = make_patch(old_image, new_image);
  PatchHeader h;
  ASSERT_EQ(patch_header_parse(patch.data(), &h), kStatusOk);
  EXPECT_LE(patch_decoder_ram(h), 32u * 1024u);
  EXPECT_LT(patch.size(), new_image.size() / 4);
  std::vector<uint8_t> out;
  // Fed in 1460-byte pieces, as TCP segments would arrive.
  ApplyResult r = apply_patch(old_image, patch, &out, 32 * 1024 - sizeof(PatchDecoder), 1460);
  ASSERT_EQ(r.status, kStatusDone) << status_message(r.status);
  ASSERT_EQ(out, new_image);
  RecordProperty("patch_bytes", static_cast<int>(patch.size()));
}

// 40 pairs in the shared corpus; indices beyond the corpus skip.
INSTANTIATE_TEST_SUITE_P(Pairs, CorpusPairTest, ::testing::Range(0, 40));

}  // namespace
}  // namespace ota::delta
