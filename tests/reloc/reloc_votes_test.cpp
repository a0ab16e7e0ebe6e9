// The encoder's vote overlay (delta/reloc_votes.h) and the site finder it
// stands on (reloc_find_sites, ota/reloc.h), on hand-assembled images whose
// instructions are encoded here from the ISA manuals, independently of the
// device's field helpers.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ota/delta/reloc_encoder.h"
#include "ota/delta/reloc_votes.h"
#include "ota/reloc.h"

namespace ota {
namespace {

struct Seg {
  uint32_t load;
  std::vector<uint8_t> data;
};

// An ESP app image: 24-byte header (magic, segment count, chip id at 12),
// then per segment (load address, length, data). No checksum: T and the
// site finder only read the table.
std::vector<uint8_t> esp_image(uint16_t chip, const std::vector<Seg>& segs) {
  std::vector<uint8_t> img(24, 0);
  img[0] = 0xE9;
  img[1] = uint8_t(segs.size());
  img[12] = uint8_t(chip);
  img[13] = uint8_t(chip >> 8);
  for (const Seg& s : segs) {
    for (uint32_t v : {s.load, uint32_t(s.data.size())})
      for (int k = 0; k < 4; ++k) img.push_back(uint8_t(v >> (8 * k)));
    img.insert(img.end(), s.data.begin(), s.data.end());
  }
  return img;
}

void put(std::vector<uint8_t>& b, size_t at, uint32_t v, int bytes) {
  for (int k = 0; k < bytes; ++k) b[at + k] = uint8_t(v >> (8 * k));
}

RelocImageLayout layout_of(const std::vector<uint8_t>& img) {
  auto l = delta::reloc_layout(img);
  EXPECT_TRUE(l.has_value());
  return l.value_or(RelocImageLayout{});
}

std::vector<RelocSite> find_sites(const std::vector<uint8_t>& img) {
  RelocImageLayout l = layout_of(img);
  std::vector<RelocSite> out;
  auto add = [](void* ctx, const RelocSite* s) { static_cast<std::vector<RelocSite>*>(ctx)->push_back(*s); };
  EXPECT_EQ(reloc_find_sites(&l, img.data(), uint32_t(img.size()), add, &out), kStatusOk);
  return out;
}

// ---- Xtensa (Xtensa ISA reference: CALLn, L32R, ENTRY) ----

constexpr uint32_t kXtCode = 0x400D0020;  // flash-mapped code on the ESP32
constexpr uint32_t kXtData = 0x3F400020;  // flash-mapped data

// CALLn at pc to target: op0 5, n in bits 5:4, offset (words from
// (pc & ~3) + 4) in bits 23:6.
uint32_t xt_call(uint32_t n, uint32_t pc, uint32_t target) {
  int32_t off = (int32_t(target) - int32_t((pc & ~3u) + 4)) / 4;
  return 5u | (n << 4) | ((uint32_t(off) & 0x3FFFF) << 6);
}
// L32R a2 at pc loading the word at addr (below pc): op0 1, t in 7:4,
// imm16 in 23:8 = (addr - ((pc + 3) & ~3)) / 4 with the top bits all ones.
uint32_t xt_l32r(uint32_t pc, uint32_t addr) {
  int32_t off = (int32_t(addr) - int32_t((pc + 3) & ~3u)) / 4;
  return 1u | (2u << 4) | ((uint32_t(off) & 0xFFFF) << 8);
}

TEST(RelocSites, XtensaCallsOntoEntryAndLiterals) {
  // Code: a literal word at +0, then instructions where the linear sweep
  // (3 bytes per zero byte, 3 for the literal's 0x3F) puts them: from +6 in
  // steps of 3; an ENTRY at +36 (CALL targets are 4-aligned), a non-ENTRY
  // instruction at +40.
  std::vector<uint8_t> code(64, 0);
  auto pc = [](uint32_t off) { return kXtCode + off; };
  put(code, 0, 0x3F400100, 4);                              // a literal word
  put(code, 9, xt_call(2, pc(9), pc(36)), 3);               // CALL8 onto ENTRY: site
  put(code, 12, xt_call(2, pc(12), pc(40)), 3);             // CALL8 onto no ENTRY: none
  put(code, 15, xt_call(0, pc(15), pc(44)), 3);             // CALL0 anywhere mapped: site
  put(code, 18, xt_l32r(pc(18), pc(0)), 3);                 // L32R of the literal: site
  put(code, 21, xt_call(0, pc(21), 0x40001000), 3);         // CALL0 outside every segment: none
  put(code, 24, xt_l32r(pc(24), kXtCode - 0x20000), 3);     // L32R outside: none
  code[36] = 0x36;                                           // ENTRY a1, 32
  code[37] = 0x41;
  auto img = esp_image(0, {{kXtCode, code}, {kXtData, std::vector<uint8_t>(16, 0)}});
  uint32_t base = 24 + 8;  // file offset of the code segment's data
  auto sites = find_sites(img);
  ASSERT_EQ(sites.size(), 3u);
  EXPECT_EQ(sites[0].file_offset, base + 9);
  EXPECT_EQ(sites[0].kind, kRelocSiteCall);
  EXPECT_EQ(sites[0].target, pc(36));
  EXPECT_EQ(sites[1].file_offset, base + 15);
  EXPECT_EQ(sites[1].kind, kRelocSiteCall);
  EXPECT_EQ(sites[1].target, pc(44));
  EXPECT_EQ(sites[2].file_offset, base + 18);
  EXPECT_EQ(sites[2].kind, kRelocSiteL32r);
  EXPECT_EQ(sites[2].target, pc(0));
}

// ---- RV32IMC (RISC-V unprivileged ISA: RV32I base formats, "C" quadrant 1) ----

constexpr uint32_t kRvCode = 0x42000020;  // flash-mapped code on the ESP32-C3
constexpr uint32_t kRvData = 0x3C000020;

uint32_t rv_jal(uint32_t rd, int32_t imm) {
  uint32_t i = uint32_t(imm);
  return 0x6F | (rd << 7) | (((i >> 12) & 0xFF) << 12) | (((i >> 11) & 1) << 20) |
         (((i >> 1) & 0x3FF) << 21) | (((i >> 20) & 1) << 31);
}
uint32_t rv_beq(uint32_t rs1, uint32_t rs2, int32_t imm) {
  uint32_t i = uint32_t(imm);
  return 0x63 | (((i >> 11) & 1) << 7) | (((i >> 1) & 0xF) << 8) | (rs1 << 15) | (rs2 << 20) |
         (((i >> 5) & 0x3F) << 25) | (((i >> 12) & 1) << 31);
}
uint32_t rv_u(uint32_t op, uint32_t rd, uint32_t hi20) { return op | (rd << 7) | (hi20 << 12); }
uint32_t rv_addi(uint32_t rd, uint32_t rs1, int32_t imm) {
  return 0x13 | (rd << 7) | (rs1 << 15) | ((uint32_t(imm) & 0xFFF) << 20);
}
uint32_t rv_lw(uint32_t rd, uint32_t rs1, int32_t imm) {
  return 0x03 | (rd << 7) | (2u << 12) | (rs1 << 15) | ((uint32_t(imm) & 0xFFF) << 20);
}
// C.J: funct3 101, imm[11|4|9:8|10|6|7|3:1|5] in bits 12:2, quadrant 1.
uint16_t rv_cj(int32_t imm) {
  uint32_t i = uint32_t(imm);
  return uint16_t(1 | (5u << 13) | (((i >> 11) & 1) << 12) | (((i >> 4) & 1) << 11) |
                  (((i >> 8) & 3) << 9) | (((i >> 10) & 1) << 8) | (((i >> 6) & 1) << 7) |
                  (((i >> 7) & 1) << 6) | (((i >> 1) & 7) << 3) | (((i >> 5) & 1) << 2));
}
// C.BEQZ rs1' (x8 + r): funct3 110, imm[8|4:3] in 12:10, imm[7:6|2:1|5] in 6:2.
uint16_t rv_cbeqz(uint32_t r, int32_t imm) {
  uint32_t i = uint32_t(imm);
  return uint16_t(1 | (6u << 13) | (((i >> 8) & 1) << 12) | (((i >> 3) & 3) << 10) | (r << 7) |
                  (((i >> 6) & 3) << 5) | (((i >> 1) & 3) << 3) | (((i >> 5) & 1) << 2));
}

TEST(RelocSites, Rv32JumpsBranchesAndHiLoPairs) {
  std::vector<uint8_t> code(64, 0);
  // 0x0001 (C.NOP) as filler keeps the sweep in step.
  for (size_t k = 0; k < code.size(); k += 2) put(code, k, 0x0001, 2);
  auto pc = [](uint32_t off) { return kRvCode + off; };
  put(code, 0, rv_jal(1, 0x40), 4);                          // JAL ra, +0x40
  put(code, 4, rv_beq(10, 11, -4), 4);                       // BEQ a0, a1, -4
  put(code, 8, rv_u(0x17, 10, 0x1), 4);                      // AUIPC a0, 1
  put(code, 12, rv_addi(10, 10, -16), 4);                    //  ADDI a0, a0, -16
  put(code, 16, rv_u(0x37, 12, 0x3C001), 4);                 // LUI a2, 0x3C001
  put(code, 20, rv_u(0x37, 13, 0x12345), 4);                 //  (another register: skipped)
  put(code, 24, rv_lw(14, 12, 0x24), 4);                     //  LW a4, 0x24(a2)
  put(code, 28, rv_cj(-28), 2);                              // C.J -28
  put(code, 30, rv_cbeqz(1, 10), 2);                         // C.BEQZ s1, +10
  put(code, 32, rv_u(0x37, 15, 0x3C002), 4);                 // LUI a5 with no %lo: none
  auto img = esp_image(5, {{kRvCode, code}, {kRvData, std::vector<uint8_t>(16, 0)}});
  uint32_t base = 24 + 8;
  auto sites = find_sites(img);
  struct Want {
    uint32_t off;
    uint8_t kind;
    uint32_t target;
  };
  std::vector<Want> want = {
      {0, kRelocSiteJal, pc(0) + 0x40},
      {4, kRelocSiteBranch, pc(4) - 4},
      {8, kRelocSiteAuipc, pc(8) + 0x1000 - 16},
      {16, kRelocSiteLui, 0x3C001000u + 0x24},
      {20, kRelocSiteLui, 0},  // placeholder, removed below: LUI a3 has no %lo
      {28, kRelocSiteCj, pc(28) - 28},
      {30, kRelocSiteCb, pc(30) + 10},
  };
  want.erase(want.begin() + 4);
  ASSERT_EQ(sites.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    SCOPED_TRACE(k);
    EXPECT_EQ(sites[k].file_offset, base + want[k].off);
    EXPECT_EQ(sites[k].kind, want[k].kind);
    EXPECT_EQ(sites[k].target, want[k].target);
  }
}

TEST(RelocSites, RefusesALayoutBeyondTheImage) {
  auto img = esp_image(0, {{kXtCode, std::vector<uint8_t>(64, 0)}});
  RelocImageLayout l = layout_of(img);
  auto none = [](void*, const RelocSite*) {};
  EXPECT_EQ(reloc_find_sites(&l, img.data(), uint32_t(img.size() - 1), none, nullptr),
            kStatusBadArgument);
  EXPECT_EQ(reloc_find_sites(&l, img.data(), uint32_t(img.size()), nullptr, nullptr),
            kStatusBadArgument);
}

// ---- Votes ----

TEST(RelocVotes, PointerWordsAndSitesThatMovedVote) {
  // OLD and NEW differ only where references changed; one record aligns them.
  std::vector<uint8_t> code(48, 0), data(0x100, 0);
  auto pc = [](uint32_t off) { return kXtCode + off; };
  put(code, 9, xt_call(0, pc(9), pc(40)), 3);  // the sweep steps 0, 3, 6, 9
  put(data, 0, kXtData + 8, 4);     // pointer into data
  put(data, 4, 0x00001234, 4);      // not an address
  put(data, 8, kXtData + 12, 4);    // pointer that will move over 1 MiB: no vote
  put(data, 12, kXtCode + 4, 4);    // pointer that stays
  auto old_img = esp_image(0, {{kXtCode, code}, {kXtData, data}});
  put(code, 9, xt_call(0, pc(9), pc(44)), 3);   // the call now lands 4 bytes later
  put(data, 0, kXtData + 8 + 0x40, 4);
  put(data, 4, 0x00005678, 4);
  put(data, 8, 0x3FFB0000, 4);      // internal RAM: pointer-like, but 12 MiB away
  auto new_img = esp_image(0, {{kXtCode, code}, {kXtData, data}});
  ASSERT_EQ(old_img.size(), new_img.size());
  RelocImageLayout ol = layout_of(old_img), nl = layout_of(new_img);
  std::vector<delta::Record> one{{uint32_t(old_img.size()), 0, 0}};
  auto votes = delta::collect_reloc_votes(old_img, new_img, ol, nl, one);
  ASSERT_EQ(votes.size(), 2u);
  EXPECT_EQ(votes[0].old_target, kXtData + 8);  // the word
  EXPECT_EQ(votes[0].delta, 0x40);
  EXPECT_EQ(votes[1].old_target, pc(40));       // the call site
  EXPECT_EQ(votes[1].delta, 4);
  // Misaligned by the match (NEW shifted by 2 bytes): words cannot vote.
  std::vector<delta::Record> shifted{{0, 2, 0}, {uint32_t(old_img.size() - 2), 0, 0}};
  std::vector<uint8_t> new2(2, 0);
  new2.insert(new2.end(), new_img.begin(), new_img.end() - 2);
  for (const auto& v : delta::collect_reloc_votes(old_img, new2, ol, nl, shifted))
    EXPECT_NE(v.old_target, kXtData + 8);
}

std::vector<delta::RelocVote> votes_for(uint32_t first, uint32_t count, int32_t delta,
                                        uint32_t stride = 4) {
  std::vector<delta::RelocVote> v;
  for (uint32_t k = 0; k < count; ++k) v.push_back({first + k * stride, delta});
  return v;
}

class RelocOverlay : public ::testing::Test {
 protected:
  RelocOverlay()
      : img_(esp_image(0, {{kXtCode, std::vector<uint8_t>(0x8000, 0)},
                           {kXtData, std::vector<uint8_t>(0x100, 0)}})),
        layout_(layout_of(img_)) {}
  std::vector<uint8_t> img_;
  RelocImageLayout layout_;
  std::vector<RelocRegion> map_{{kXtCode, 0x2000, 0x100}, {kXtCode + 0x3000, 0x1000, 0x200}};
};

TEST_F(RelocOverlay, AStrongRunOverridesTheMapInsideIt) {
  auto out = delta::overlay_reloc_votes(layout_, map_, votes_for(kXtCode + 0x400, 12, 0x140));
  std::vector<RelocRegion> want = {{kXtCode, 0x400, 0x100},
                                   {kXtCode + 0x400, 0x2D, 0x140},  // first..last target + 1
                                   {kXtCode + 0x42D, 0x2000 - 0x42D, 0x100},
                                   {kXtCode + 0x3000, 0x1000, 0x200}};
  ASSERT_EQ(out.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(out[k].old_start, want[k].old_start) << k;
    EXPECT_EQ(out[k].length, want[k].length) << k;
    EXPECT_EQ(out[k].delta, want[k].delta) << k;
  }
  RelocContext c;
  EXPECT_EQ(reloc_context_init(&c, &layout_, out.data(), uint32_t(out.size()), nullptr, nullptr),
            kStatusOk);
}

TEST_F(RelocOverlay, WeakOrAgreeingRunsChangeNothing) {
  auto same = [&](const std::vector<RelocRegion>& out) {
    ASSERT_EQ(out.size(), map_.size());
    for (size_t k = 0; k < out.size(); ++k) {
      EXPECT_EQ(out[k].old_start, map_[k].old_start);
      EXPECT_EQ(out[k].length, map_[k].length);
      EXPECT_EQ(out[k].delta, map_[k].delta);
    }
  };
  same(delta::overlay_reloc_votes(layout_, map_, votes_for(kXtCode + 0x400, 9, 0x140)));
  same(delta::overlay_reloc_votes(layout_, map_, votes_for(kXtCode + 0x400, 30, 0x100)));
  // Targets the map cannot map (outside every segment) never extend a run.
  same(delta::overlay_reloc_votes(layout_, map_, votes_for(0x50000000, 30, 0x140)));
  same(delta::overlay_reloc_votes(layout_, map_, {}));
  // Disabled.
  same(delta::overlay_reloc_votes(layout_, map_, votes_for(kXtCode + 0x400, 30, 0x140), 0xFFFFFFFF));
}

TEST_F(RelocOverlay, MajorityPerTargetAndRunsBreakAtGaps) {
  // Each target: 3 votes for 0x140, 1 for 0x180 -> 0x140 wins.
  std::vector<delta::RelocVote> v;
  for (uint32_t k = 0; k < 4; ++k) {
    uint32_t t = kXtCode + 0x800 + 4 * k;
    v.push_back({t, 0x180});
    for (int j = 0; j < 3; ++j) v.push_back({t, 0x140});
  }
  // A second group 4 KiB after the first: its own run (only 9 votes, dropped).
  for (uint32_t k = 0; k < 9; ++k) v.push_back({kXtCode + 0x1810 + 4 * k, 0x140});
  auto out = delta::overlay_reloc_votes(layout_, map_, v);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[1].old_start, kXtCode + 0x800);
  EXPECT_EQ(out[1].length, 13u);
  EXPECT_EQ(out[1].delta, 0x140);
  EXPECT_EQ(out[2].delta, 0x100);
  EXPECT_EQ(out[2].old_start, kXtCode + 0x80D);
}

TEST_F(RelocOverlay, ARunIntoAGapCoversItButNotBeyond) {
  // Votes from inside region 1 into the gap [0x2000, 0x3000) that region 1's
  // delta serves: the painted run keeps both ends, the gap after it stays a gap.
  auto out = delta::overlay_reloc_votes(layout_, map_, votes_for(kXtCode + 0x1FF0, 12, 0x150));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].old_start, kXtCode + 0x1FF0);
  EXPECT_EQ(out[1].length, 0x2D);
  EXPECT_EQ(out[1].delta, 0x150);
  EXPECT_EQ(out[2].old_start, kXtCode + 0x3000);
}

}  // namespace
}  // namespace ota
