// The simulator's POSIX ports: NOR flash rules, the power-cut injector at
// every unit of writes, erases, otadata updates and state-store commits,
// ESP-IDF's rollback state machine in otadata and the bootloader, staging,
// clock and display. (The transport is in posix_transport_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "ota/posix/files.h"
#include "ota/posix/flash.h"
#include "ota/posix/power.h"
#include "ota/posix/system.h"
#include "test_support.h"

namespace ota::posix {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

constexpr uint32_t kSlot = 64 * 1024;  // small slots keep the sweeps fast
constexpr uint32_t kSector = kFlashSectorSize;
// An otadata update: erase one sector, write 12 bytes.
constexpr uint64_t kEntryCost = kSector + 12;

Bytes random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

Bytes app(const std::string& version, uint32_t seed, size_t code = 3000) {
  return test::synthetic_esp32_app(version, "posix-test", random_bytes(code, seed));
}

struct TempDir {
  fs::path path = test::make_temp_dir("posix-ports");
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// One simulated device: a power supply and its flash.
struct Device {
  PowerSupply power;
  std::unique_ptr<PosixFlash> flash;
  std::string file;

  Device(const fs::path& dir, const Bytes& factory, bool keep_open = true)
      : file((dir / "flash.bin").string()) {
    FlashOptions opt;
    opt.slot_size = kSlot;
    opt.keep_open = keep_open;
    std::string error;
    flash = PosixFlash::create(file, factory, &power, opt, &error);
    EXPECT_NE(flash, nullptr) << error;
  }
  // Puts an image into a slot through the port (whole-slot erase, write).
  void install(int slot, const Bytes& image) {
    ASSERT_EQ(flash->erase(slot, 0, kSlot), 0);
    ASSERT_EQ(flash->write(slot, 0, image.data(), static_cast<uint32_t>(image.size())), 0);
  }
  BootResult reboot() {
    power.power_on();
    return flash->boot();
  }
  void save(const fs::path& to) const {
    fs::copy_file(file, to, fs::copy_options::overwrite_existing);
  }
  // Back to a saved file; the running image is what the next boot decides.
  void restore(const fs::path& from) {
    flash.reset();
    fs::copy_file(from, file, fs::copy_options::overwrite_existing);
    std::string error;
    flash = PosixFlash::open(file, &power, {}, &error);
    ASSERT_NE(flash, nullptr) << error;
    power.power_on();
  }
};

// After any cut: power returns, the bootloader starts an image that is
// well-formed, and otadata selects a slot that holds one.
BootResult expect_bootable(Device& d, const std::string& where) {
  BootResult r = d.reboot();
  EXPECT_TRUE(r.ok) << where << ": " << r.reason;
  if (r.ok) {
    EXPECT_EQ(d.flash->check_image(r.slot, nullptr), kStatusOk) << where;
  }
  OtadataDump o = d.flash->otadata();
  EXPECT_EQ(d.flash->check_image(o.selected_slot, nullptr), kStatusOk) << where << ": " << o.describe();
  return r;
}

// ---------------------------------------------------------------------------
// Flash: NOR rules.

TEST(device_posix_flash, FreshDeviceHoldsTheFactoryImageAndErasedBytes) {
  TempDir t;
  Bytes a = app("1.0.0", 1);
  Device d(t.path, a);
  Bytes s0 = d.flash->read_slot(0), s1 = d.flash->read_slot(1);
  ASSERT_EQ(s0.size(), kSlot);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), s0.begin()));
  EXPECT_TRUE(std::all_of(s0.begin() + a.size(), s0.end(), [](uint8_t b) { return b == 0xFF; }));
  EXPECT_TRUE(std::all_of(s1.begin(), s1.end(), [](uint8_t b) { return b == 0xFF; }));
  EXPECT_EQ(d.flash->read_image(0), a);
  EXPECT_TRUE(d.flash->read_image(1).empty());
  EXPECT_EQ(d.flash->slot_size(), kSlot);
  OtadataDump o = d.flash->otadata();
  EXPECT_EQ(o.selected, -1) << o.describe();
  EXPECT_EQ(fs::file_size(d.file), PosixFlash::kOtadataSize + 2ull * kSlot);
}

TEST(device_posix_flash, EraseOnlyWholeSectorsInsideTheSlot) {
  TempDir t;
  Device d(t.path, app("1.0.0", 1));
  EXPECT_NE(d.flash->erase(1, 100, kSector), 0);
  EXPECT_NE(d.flash->erase(1, 0, 100), 0);
  EXPECT_NE(d.flash->erase(1, kSector, kSector + 1), 0);
  EXPECT_NE(d.flash->erase(1, kSlot - kSector, 2 * kSector), 0);
  EXPECT_NE(d.flash->erase(1, kSlot, kSector), 0);
  EXPECT_NE(d.flash->erase(2, 0, kSector), 0);
  EXPECT_NE(d.flash->erase(-1, 0, kSector), 0);
  EXPECT_EQ(d.flash->erase(1, kSector, 2 * kSector), 0);
  EXPECT_EQ(d.flash->erase(1, kSlot - kSector, kSector), 0);
  EXPECT_EQ(d.flash->erase(1, 0, kSlot), 0);
  EXPECT_EQ(d.flash->erase(1, 0, 0), 0);
  EXPECT_EQ(d.power.used(), 3ull * kSector + kSlot);  // refused erases cost nothing
}

TEST(device_posix_flash, WriteOnlyIntoErasedBytes) {
  TempDir t;
  Device d(t.path, app("1.0.0", 1));
  Bytes first = random_bytes(16, 2);
  first[3] = 0xFF;  // an 0xFF byte written stays writable, as on NOR
  ASSERT_EQ(d.flash->write(1, 0, first.data(), 16), 0);
  Bytes over(10, 0x00);
  EXPECT_NE(d.flash->write(1, 10, over.data(), 10), 0);  // bytes 10..15 are written
  Bytes back(32);
  ASSERT_EQ(d.flash->read(1, 0, back.data(), 32), 0);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), back.begin()));
  EXPECT_TRUE(std::all_of(back.begin() + 16, back.end(), [](uint8_t b) { return b == 0xFF; }))
      << "a refused write wrote nothing";
  uint8_t one = 0x12;
  EXPECT_EQ(d.flash->write(1, 3, &one, 1), 0);
  EXPECT_NE(d.flash->write(1, 3, &one, 1), 0);
  // The factory image's bytes are not erased: no write over them.
  EXPECT_NE(d.flash->write(0, 0, &one, 1), 0);
  // After an erase the bytes take writes again.
  ASSERT_EQ(d.flash->erase(1, 0, kSector), 0);
  EXPECT_EQ(d.flash->write(1, 10, over.data(), 10), 0);
}

TEST(device_posix_flash, ReadWriteEraseRoundTrip) {
  TempDir t;
  Device d(t.path, app("1.0.0", 1));
  Bytes data = random_bytes(3 * kSector + 123, 3);
  const uint32_t at = kSector - 77;  // crosses sector boundaries
  ASSERT_EQ(d.flash->write(1, at, data.data(), static_cast<uint32_t>(data.size())), 0);
  Bytes back(data.size());
  ASSERT_EQ(d.flash->read(1, at, back.data(), static_cast<uint32_t>(back.size())), 0);
  EXPECT_EQ(back, data);
  // Pieces at odd offsets.
  for (uint32_t off : {0u, 1u, 4095u, 4096u, 9000u}) {
    Bytes piece(100);
    ASSERT_EQ(d.flash->read(1, at + off, piece.data(), 100), 0);
    EXPECT_TRUE(std::equal(piece.begin(), piece.end(), data.begin() + off));
  }
  ASSERT_EQ(d.flash->erase(1, 2 * kSector, kSector), 0);
  Bytes slot = d.flash->read_slot(1);
  for (uint32_t i = 0; i < kSlot; ++i) {
    uint8_t want = 0xFF;
    if (i >= at && i < at + data.size() && (i < 2 * kSector || i >= 3 * kSector)) want = data[i - at];
    ASSERT_EQ(slot[i], want) << i;
  }
  // Through the FlashPort struct too.
  FlashPort p = d.flash->port();
  EXPECT_EQ(p.slot_size(p.ctx, 0), kSlot);
  EXPECT_EQ(p.slot_size(p.ctx, 1), kSlot);
  uint8_t b = 0;
  EXPECT_EQ(p.read(p.ctx, 1, at, &b, 1), 0);
  EXPECT_EQ(b, data[0]);
  EXPECT_EQ(p.erase(p.ctx, 1, 0, kSlot), 0);
  EXPECT_EQ(p.write(p.ctx, 1, 5, &b, 1), 0);
  EXPECT_EQ(p.read(p.ctx, 1, 0, back.data(), 6), 0);
  EXPECT_EQ(back[5], data[0]);
  EXPECT_EQ(back[4], 0xFF);
}

TEST(device_posix_flash, OutOfRangeAndBadArgumentsFail) {
  TempDir t;
  Device d(t.path, app("1.0.0", 1));
  uint8_t buf[8] = {};
  EXPECT_NE(d.flash->read(0, kSlot - 1, buf, 2), 0);
  EXPECT_NE(d.flash->read(0, kSlot, buf, 1), 0);
  EXPECT_NE(d.flash->read(0, 0xFFFFFFFF, buf, 2), 0);
  EXPECT_NE(d.flash->read(2, 0, buf, 1), 0);
  EXPECT_NE(d.flash->read(-1, 0, buf, 1), 0);
  EXPECT_NE(d.flash->read(0, 0, nullptr, 1), 0);
  EXPECT_EQ(d.flash->read(0, kSlot - 1, buf, 1), 0);
  EXPECT_EQ(d.flash->read(0, kSlot, buf, 0), 0);
  EXPECT_NE(d.flash->write(1, kSlot - 4, buf, 8), 0);
  EXPECT_NE(d.flash->write(1, 0, nullptr, 8), 0);
  EXPECT_NE(d.flash->write(2, 0, buf, 8), 0);
  Bytes s1 = d.flash->read_slot(1);
  EXPECT_TRUE(std::all_of(s1.begin(), s1.end(), [](uint8_t b) { return b == 0xFF; }));
}

TEST(device_posix_flash, ReopenedFileKeepsEverything) {
  TempDir t;
  Bytes a = app("1.0.0", 1), b = app("2.0.0", 2);
  std::string file;
  {
    Device d(t.path, a, /*keep_open=*/false);
    d.install(1, b);
    ASSERT_EQ(d.flash->boot().slot, 0);
    ASSERT_EQ(d.flash->set_boot(1), 0);
    file = d.file;
  }
  PowerSupply power;
  std::string error;
  auto f = PosixFlash::open(file, &power, {}, &error);
  ASSERT_NE(f, nullptr) << error;
  EXPECT_EQ(f->slot_size(), kSlot);
  EXPECT_EQ(f->read_image(0), a);
  EXPECT_EQ(f->read_image(1), b);
  EXPECT_EQ(f->otadata().selected_state, kImageNew);
  EXPECT_EQ(f->boot().slot, 1);
  EXPECT_EQ(PosixFlash::open((t.path / "missing.bin").string(), &power, {}, &error), nullptr);
  FlashOptions odd;
  odd.slot_size = 1000;
  EXPECT_EQ(PosixFlash::create((t.path / "x.bin").string(), a, &power, odd, &error), nullptr);
  odd.slot_size = 4096;
  EXPECT_EQ(PosixFlash::create((t.path / "x.bin").string(), Bytes(4097, 1), &power, odd, &error),
            nullptr)
      << "the image does not fit";
}

// ---------------------------------------------------------------------------
// The power supply: cuts inside writes and erases.

TEST(device_posix_power, BudgetAccounting) {
  PowerSupply p;
  EXPECT_FALSE(p.off());
  EXPECT_EQ(p.remaining(), PowerSupply::kUnlimited);
  uint64_t g = 0;
  EXPECT_TRUE(p.draw(1000, &g));
  EXPECT_EQ(g, 1000u);
  p.set_budget(10);
  EXPECT_TRUE(p.draw(4, &g));
  EXPECT_TRUE(p.draw(6, &g));  // exactly the budget: no cut yet
  EXPECT_FALSE(p.off());
  EXPECT_TRUE(p.draw(0, &g));
  EXPECT_FALSE(p.draw(1, &g));
  EXPECT_EQ(g, 0u);
  EXPECT_TRUE(p.off());
  EXPECT_FALSE(p.draw(0, &g)) << "nothing works while off";
  EXPECT_EQ(p.used(), 1010u);
  EXPECT_EQ(p.cuts(), 1u);
  p.set_budget(100);
  EXPECT_TRUE(p.off()) << "set_budget does not switch the power on";
  p.power_on();
  EXPECT_FALSE(p.off());
  EXPECT_EQ(p.remaining(), PowerSupply::kUnlimited);
  p.set_budget(5);
  EXPECT_FALSE(p.draw(8, &g));
  EXPECT_EQ(g, 5u);
  EXPECT_EQ(p.used(), 1015u);
  p.power_on();
  p.set_budget(5);
  p.disable();
  EXPECT_TRUE(p.draw(1000, nullptr));
}

TEST(device_posix_power, WriteCutAtEveryByte) {
  TempDir t;
  Device d(t.path, app("1.0.0", 1));
  ASSERT_EQ(d.flash->boot().slot, 0);
  const uint32_t at = kSector - 40, n = 100;  // crosses a sector boundary
  Bytes data = random_bytes(n, 4);
  PosixStateStore store((t.path / "state").string(), &d.power);
  for (uint32_t k = 0; k <= n; ++k) {
    d.power.power_on();
    ASSERT_EQ(d.flash->erase(1, 0, 2 * kSector), 0);
    d.power.set_budget(k);
    int rc = d.flash->write(1, at, data.data(), n);
    EXPECT_EQ(rc == 0, k == n) << k;
    EXPECT_EQ(d.power.off(), k < n) << k;
    if (k < n) {
      uint8_t b;
      EXPECT_NE(d.flash->read(0, 0, &b, 1), 0) << "reads fail while off";
      EXPECT_NE(d.flash->erase(1, 0, kSector), 0);
      EXPECT_NE(d.flash->write(1, 0, &b, 1), 0);
      EXPECT_NE(d.flash->set_boot(0), 0);
      EXPECT_NE(d.flash->mark_valid(), 0);
      FlashPort p = d.flash->port();
      EXPECT_EQ(p.running_slot(p.ctx), -1);
      EXPECT_EQ(p.running_state(p.ctx), -1);
      uint32_t size;
      EXPECT_NE(store.size(kBlobState, &size), 0) << "the state store shares the supply";
    }
    Bytes slot = d.flash->read_slot(1);
    for (uint32_t i = 0; i < 2 * kSector; ++i) {
      uint8_t want = i >= at && i < at + k ? data[i - at] : 0xFF;
      ASSERT_EQ(slot[i], want) << "budget " << k << " byte " << i;
    }
    BootResult r = expect_bootable(d, "write cut " + std::to_string(k));
    EXPECT_EQ(r.slot, 0);
  }
}

TEST(device_posix_power, EraseCutAtEveryByte) {
  TempDir t;
  Device d(t.path, app("1.0.0", 1));
  ASSERT_EQ(d.flash->boot().slot, 0);
  const Bytes data = random_bytes(3 * kSector, 5);
  Bytes image(4 * kSector, 0xFF);  // slot 1: one erased sector, then data
  std::copy(data.begin(), data.end(), image.begin() + kSector);
  for (uint32_t k = 0; k <= 2 * kSector; ++k) {
    d.power.power_on();
    ASSERT_TRUE(d.flash->program_slot(1, image));
    d.power.set_budget(k);
    int rc = d.flash->erase(1, kSector, 2 * kSector);  // two sectors
    ASSERT_EQ(rc == 0, k == 2 * kSector) << k;
    ASSERT_EQ(d.power.off(), k < 2 * kSector) << k;
    d.power.power_on();
    Bytes got(3 * kSector);
    ASSERT_EQ(d.flash->read(1, kSector, got.data(), 3 * kSector), 0);
    for (uint32_t i = 0; i < 3 * kSector; ++i) {
      uint8_t want = i < k ? 0xFF : data[i];
      ASSERT_EQ(got[i], want) << "budget " << k << " byte " << i;
    }
    if (k % 512 == 0 || k == 2 * kSector - 1) {
      EXPECT_EQ(expect_bootable(d, "erase cut " + std::to_string(k)).slot, 0);
    }
  }
}

// ---------------------------------------------------------------------------
// Otadata and the bootloader: ESP-IDF's app rollback.

TEST(device_posix_otadata, FactoryBootIsSlotZeroUndefined) {
  TempDir t;
  Device d(t.path, app("1.0.0", 1));
  FlashPort p = d.flash->port();
  EXPECT_EQ(p.running_slot(p.ctx), -1) << "before the first boot";
  BootResult r = d.flash->boot();
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.slot, 0);
  EXPECT_EQ(r.state, kImageUndefined);
  EXPECT_FALSE(r.fallback);
  EXPECT_FALSE(r.wrote_otadata);
  EXPECT_NE(r.reason.find("otadata empty"), std::string::npos) << r.reason;
  EXPECT_EQ(p.running_slot(p.ctx), 0);
  EXPECT_EQ(p.running_state(p.ctx), kImageUndefined);
  EXPECT_EQ(p.mark_valid(p.ctx), 0) << "nothing to confirm";
  EXPECT_EQ(d.power.used(), 0u);
  EXPECT_EQ(p.rollback(p.ctx), -1) << "no other image";
}

TEST(device_posix_otadata, EspIdfStateMachine) {
  TempDir t;
  Bytes a = app("1.0.0", 1), b = app("2.0.0", 2), c = app("3.0.0", 3);
  Device d(t.path, a);
  FlashPort p = d.flash->port();
  ASSERT_EQ(d.flash->boot().slot, 0);
  d.install(1, b);

  // set_boot: NEW, still running the old image.
  uint64_t before = d.power.used();
  ASSERT_EQ(p.set_boot(p.ctx, 1), 0);
  EXPECT_EQ(d.power.used() - before, kEntryCost);
  OtadataDump o = d.flash->otadata();
  EXPECT_EQ(o.selected_slot, 1) << o.describe();
  EXPECT_EQ(o.selected_state, kImageNew);
  EXPECT_EQ(o.entries[o.selected].seq, 2u);
  EXPECT_EQ(p.running_slot(p.ctx), 0);

  // First boot: NEW → PENDING_VERIFY.
  BootResult r = d.reboot();
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.slot, 1);
  EXPECT_EQ(r.state, kImagePendingVerify);
  EXPECT_TRUE(r.wrote_otadata);
  EXPECT_STREQ(r.image.version, "2.0.0") << "the started image, as the bootloader checked it";
  EXPECT_EQ(r.image.size, b.size());
  EXPECT_EQ(p.running_state(p.ctx), kImagePendingVerify);
  EXPECT_EQ(d.flash->otadata().selected_state, kImagePendingVerify);

  // Confirmed: VALID, and it stays.
  ASSERT_EQ(p.mark_valid(p.ctx), 0);
  EXPECT_EQ(p.running_state(p.ctx), kImageValid);
  EXPECT_EQ(p.mark_valid(p.ctx), 0);
  r = d.reboot();
  EXPECT_EQ(r.slot, 1);
  EXPECT_EQ(r.state, kImageValid);
  EXPECT_FALSE(r.wrote_otadata);

  // The next update, never confirmed: PENDING_VERIFY at boot → ABORTED, the
  // previous image runs (VALID).
  d.install(0, c);
  ASSERT_EQ(p.set_boot(p.ctx, 0), 0);
  r = d.reboot();
  ASSERT_EQ(r.slot, 0);
  EXPECT_EQ(r.state, kImagePendingVerify);
  r = d.reboot();
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.slot, 1);
  EXPECT_EQ(r.state, kImageValid);
  EXPECT_TRUE(r.fallback);
  EXPECT_EQ(r.selected_slot, 0);
  EXPECT_STREQ(r.image.version, "2.0.0") << "the fallback's image, not the selected one's";
  EXPECT_NE(r.reason.find("never confirmed"), std::string::npos) << r.reason;
  o = d.flash->otadata();
  EXPECT_EQ(o.selected_slot, 0);
  EXPECT_EQ(o.selected_state, kImageAborted) << o.describe();
  r = d.reboot();  // stays rolled back, writes nothing more
  EXPECT_EQ(r.slot, 1);
  EXPECT_FALSE(r.wrote_otadata);
  EXPECT_EQ(p.mark_valid(p.ctx), 0);
  EXPECT_EQ(p.rollback(p.ctx), -1) << "a fallback image cannot roll back to the aborted one";

  // Switching again works (the agent retries), and an explicit rollback
  // marks the running image INVALID.
  ASSERT_EQ(p.set_boot(p.ctx, 0), 0);
  r = d.reboot();
  ASSERT_EQ(r.slot, 0);
  ASSERT_EQ(r.state, kImagePendingVerify);
  ASSERT_EQ(p.rollback(p.ctx), 0);
  EXPECT_EQ(p.running_state(p.ctx), kImageInvalid);
  EXPECT_EQ(d.flash->otadata().selected_state, kImageInvalid);
  r = d.reboot();
  EXPECT_EQ(r.slot, 1);
  EXPECT_EQ(r.state, kImageValid);
  EXPECT_TRUE(r.fallback);
  EXPECT_NE(r.reason.find("INVALID"), std::string::npos) << r.reason;

  // Sequence numbers only grow; the two entries alternate sectors.
  o = d.flash->otadata();
  EXPECT_TRUE(o.entries[0].valid && o.entries[1].valid) << o.describe();
  EXPECT_NE(o.entries[0].seq, o.entries[1].seq);
}

TEST(device_posix_otadata, SetBootOfTheRunningSlotStartsItAsNew) {
  TempDir t;
  Device d(t.path, app("1.0.0", 1));
  ASSERT_EQ(d.flash->boot().slot, 0);
  ASSERT_EQ(d.flash->set_boot(0), 0);
  OtadataDump o = d.flash->otadata();
  EXPECT_EQ(o.selected_slot, 0);
  EXPECT_EQ(o.entries[o.selected].seq, 1u);
  BootResult r = d.reboot();
  EXPECT_EQ(r.slot, 0);
  EXPECT_EQ(r.state, kImagePendingVerify);
  EXPECT_EQ(d.flash->otadata().entries[d.flash->otadata().selected].seq, 3u);
}

TEST(device_posix_otadata, SetBootRefusesASlotWithoutAValidImage) {
  TempDir t;
  Bytes b = app("2.0.0", 2);
  Device d(t.path, app("1.0.0", 1));
  ASSERT_EQ(d.flash->boot().slot, 0);
  EXPECT_NE(d.flash->set_boot(1), 0) << "erased slot";
  b[b.size() / 2] ^= 1;
  d.install(1, b);
  EXPECT_NE(d.flash->set_boot(1), 0) << "corrupt image";
  EXPECT_NE(d.flash->set_boot(2), 0);
  EXPECT_EQ(d.flash->otadata().selected, -1);
  EXPECT_EQ(d.power.used(), uint64_t{kSlot} + b.size()) << "only the install cost power";
}

TEST(device_posix_boot, RefusesACorruptImageInTheSelectedSlot) {
  TempDir t;
  Bytes a = app("1.0.0", 1), b = app("2.0.0", 2);
  Device d(t.path, a);
  ASSERT_EQ(d.flash->boot().slot, 0);
  d.install(1, b);
  ASSERT_EQ(d.flash->set_boot(1), 0);
  Bytes bad = b;
  bad[100] ^= 0x40;
  ASSERT_TRUE(d.flash->program_slot(1, bad));  // damaged after the switch
  BootResult r = d.reboot();
  ASSERT_TRUE(r.ok) << r.reason;
  EXPECT_EQ(r.slot, 0);
  EXPECT_TRUE(r.fallback);
  EXPECT_EQ(r.selected_slot, 1);
  EXPECT_EQ(r.state, kImageValid);
  EXPECT_FALSE(r.wrote_otadata);
  EXPECT_NE(r.reason.find("no valid image"), std::string::npos) << r.reason;
  EXPECT_EQ(d.flash->otadata().selected_state, kImageNew) << "otadata left as it was";

  // A confirmed image damaged later: the other slot starts.
  ASSERT_TRUE(d.flash->program_slot(1, b));
  ASSERT_EQ(d.reboot().slot, 1);
  ASSERT_EQ(d.flash->mark_valid(), 0);
  Bytes truncated(b.begin(), b.end() - 40);
  ASSERT_TRUE(d.flash->program_slot(1, truncated));
  r = d.reboot();
  EXPECT_EQ(r.slot, 0);
  EXPECT_TRUE(r.fallback);

  // No otadata and a bad slot 0: slot 1.
  ASSERT_TRUE(d.flash->program_slot(1, b));
  ASSERT_TRUE(d.flash->erase_otadata());
  ASSERT_TRUE(d.flash->program_slot(0, truncated));
  r = d.reboot();
  EXPECT_EQ(r.slot, 1);
  EXPECT_EQ(r.state, kImageUndefined);
}

TEST(device_posix_boot, ReportsNoBootableImage) {
  TempDir t;
  Bytes a = app("1.0.0", 1);
  Device d(t.path, a);
  a[50] ^= 1;
  ASSERT_TRUE(d.flash->program_slot(0, a));
  BootResult r = d.flash->boot();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.slot, -1);
  EXPECT_NE(r.reason.find("no bootable image"), std::string::npos) << r.reason;
  FlashPort p = d.flash->port();
  EXPECT_EQ(p.running_slot(p.ctx), -1);
}

TEST(device_posix_boot, FailsWhileThePowerIsOff) {
  TempDir t;
  Device d(t.path, app("1.0.0", 1));
  d.power.set_budget(0);
  uint8_t b = 1;
  EXPECT_NE(d.flash->write(1, 0, &b, 1), 0);
  BootResult r = d.flash->boot();
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(d.reboot().ok);
}

// ---------------------------------------------------------------------------
// Power cuts inside every otadata update. `saved` files are states of the
// whole flash; each budget starts from one.

// Slot 0 confirmed after a full update cycle, both otadata sectors in use.
void confirmed_on_slot0(Device& d, const Bytes& a, const Bytes& b) {
  ASSERT_EQ(d.flash->boot().slot, 0);
  d.install(1, b);
  ASSERT_EQ(d.flash->set_boot(1), 0);
  ASSERT_EQ(d.reboot().slot, 1);
  ASSERT_EQ(d.flash->mark_valid(), 0);
  d.install(0, a);
  ASSERT_EQ(d.flash->set_boot(0), 0);
  ASSERT_EQ(d.reboot().slot, 0);
  ASSERT_EQ(d.flash->mark_valid(), 0);
  d.install(1, b);  // the next release, waiting in slot 1
}

TEST(device_posix_cuts, SetBootAtEveryUnit) {
  TempDir t;
  Bytes a = app("1.0.0", 1), b = app("2.0.0", 2);
  Device d(t.path, a);
  confirmed_on_slot0(d, a, b);
  const fs::path saved = t.path / "saved.bin";
  d.save(saved);
  for (uint64_t k = 0; k <= kEntryCost; ++k) {
    d.restore(saved);
    ASSERT_EQ(d.flash->boot().state, kImageValid);
    d.power.set_budget(k);
    int rc = d.flash->set_boot(1);
    ASSERT_EQ(rc == 0, k == kEntryCost) << k;
    BootResult r = expect_bootable(d, "set_boot cut " + std::to_string(k));
    if (rc == 0) {
      EXPECT_EQ(r.slot, 1);
      EXPECT_EQ(r.state, kImagePendingVerify);
    } else {
      EXPECT_EQ(r.slot, 0) << k << ": " << d.flash->otadata().describe();
      EXPECT_EQ(r.state, kImageValid);
      EXPECT_FALSE(r.fallback);
    }
  }
}

// Slot 1 selected as NEW (set_boot done, not booted yet).
void switched_to_slot1(Device& d, const Bytes& a, const Bytes& b) {
  confirmed_on_slot0(d, a, b);
  ASSERT_EQ(d.flash->set_boot(1), 0);
}

TEST(device_posix_cuts, MarkValidAtEveryUnit) {
  TempDir t;
  Bytes a = app("1.0.0", 1), b = app("2.0.0", 2);
  Device d(t.path, a);
  switched_to_slot1(d, a, b);
  const fs::path saved = t.path / "saved.bin";
  d.save(saved);
  for (uint64_t k = 0; k <= kEntryCost; ++k) {
    d.restore(saved);
    ASSERT_EQ(d.flash->boot().state, kImagePendingVerify);
    d.power.set_budget(k);
    int rc = d.flash->mark_valid();
    ASSERT_EQ(rc == 0, k == kEntryCost) << k;
    BootResult r = expect_bootable(d, "mark_valid cut " + std::to_string(k));
    if (rc == 0) {
      EXPECT_EQ(r.slot, 1);
      EXPECT_EQ(r.state, kImageValid);
    } else {  // never confirmed: the bootloader rolls back
      EXPECT_EQ(r.slot, 0) << k;
      EXPECT_EQ(r.state, kImageValid);
      EXPECT_TRUE(r.fallback);
      EXPECT_EQ(d.flash->otadata().selected_state, kImageAborted);
    }
  }
}

TEST(device_posix_cuts, RollbackAtEveryUnit) {
  TempDir t;
  Bytes a = app("1.0.0", 1), b = app("2.0.0", 2);
  Device d(t.path, a);
  switched_to_slot1(d, a, b);
  const fs::path saved = t.path / "saved.bin";
  d.save(saved);
  for (uint64_t k = 0; k <= kEntryCost; ++k) {
    d.restore(saved);
    ASSERT_EQ(d.flash->boot().state, kImagePendingVerify);
    d.power.set_budget(k);
    int rc = d.flash->rollback();
    ASSERT_EQ(rc == 0, k == kEntryCost) << k;
    BootResult r = expect_bootable(d, "rollback cut " + std::to_string(k));
    EXPECT_EQ(r.slot, 0) << k;
    EXPECT_EQ(r.state, kImageValid);
    EXPECT_TRUE(r.fallback);
    EXPECT_EQ(d.flash->otadata().selected_state, rc == 0 ? kImageInvalid : kImageAborted);
  }
}

TEST(device_posix_cuts, BootloaderFirstBootAtEveryUnit) {
  TempDir t;
  Bytes a = app("1.0.0", 1), b = app("2.0.0", 2);
  Device d(t.path, a);
  switched_to_slot1(d, a, b);
  const fs::path saved = t.path / "saved.bin";
  d.save(saved);
  for (uint64_t k = 0; k <= kEntryCost; ++k) {
    d.restore(saved);
    d.power.set_budget(k);
    BootResult r = d.flash->boot();  // NEW → PENDING_VERIFY
    ASSERT_EQ(r.ok, k == kEntryCost) << k << ": " << r.reason;
    if (!r.ok) {
      EXPECT_TRUE(d.power.off());
      EXPECT_NE(r.reason.find("power cut"), std::string::npos) << r.reason;
      r = expect_bootable(d, "first boot cut " + std::to_string(k));
    }
    EXPECT_EQ(r.slot, 1) << k;
    EXPECT_EQ(r.state, kImagePendingVerify) << k;
    d.power.disable();  // a budget spent to the last unit cuts the next write
    ASSERT_EQ(d.flash->mark_valid(), 0);
  }
}

TEST(device_posix_cuts, BootloaderAbortAtEveryUnit) {
  TempDir t;
  Bytes a = app("1.0.0", 1), b = app("2.0.0", 2);
  Device d(t.path, a);
  switched_to_slot1(d, a, b);
  ASSERT_EQ(d.reboot().state, kImagePendingVerify);  // then a reset before confirming
  const fs::path saved = t.path / "saved.bin";
  d.save(saved);
  for (uint64_t k = 0; k <= kEntryCost; ++k) {
    d.restore(saved);
    d.power.set_budget(k);
    BootResult r = d.flash->boot();  // PENDING_VERIFY → ABORTED
    ASSERT_EQ(r.ok, k == kEntryCost) << k << ": " << r.reason;
    if (!r.ok) r = expect_bootable(d, "abort cut " + std::to_string(k));
    EXPECT_EQ(r.slot, 0) << k;
    EXPECT_EQ(r.state, kImageValid);
    EXPECT_TRUE(r.fallback);
    EXPECT_EQ(d.flash->otadata().selected_state, kImageAborted);
  }
}

// Random sequences of updates, confirmations, rollbacks, resets and cuts:
// the device always boots a valid image, and an image that otadata selects
// as NEW starts as PENDING_VERIFY unless a cut strikes first.
TEST(device_posix_cuts, RandomLivesAlwaysBoot) {
  TempDir t;
  Bytes imgs[2] = {app("1.0.0", 1), app("2.0.0", 2)};
  Device d(t.path, imgs[0]);
  std::mt19937 rng(7);
  ASSERT_TRUE(d.flash->boot().ok);
  d.install(1, imgs[1]);
  for (int step = 0; step < 400; ++step) {
    const int op = static_cast<int>(rng() % 5);
    const bool cut = rng() % 3 == 0;
    if (cut) d.power.set_budget(rng() % (kEntryCost + 1));
    const int running = d.flash->running_slot();
    switch (op) {
      case 0: d.flash->set_boot(1 - running); break;
      case 1: d.flash->mark_valid(); break;
      case 2: d.flash->rollback(); break;
      default: break;  // a reset
    }
    OtadataDump before = d.power.off() ? OtadataDump() : d.flash->otadata();
    const bool was_off = d.power.off();
    d.power.power_on();
    if (!was_off && before.selected >= 0 && before.selected_state == kImageNew) {
      BootResult r = d.flash->boot();
      ASSERT_TRUE(r.ok) << step << ": " << r.reason;
      EXPECT_EQ(r.slot, before.selected_slot) << step;
      EXPECT_EQ(r.state, kImagePendingVerify) << step;
    } else {
      BootResult r = expect_bootable(d, "step " + std::to_string(step));
      ASSERT_TRUE(r.ok);
    }
  }
}

// ---------------------------------------------------------------------------
// State store.

Bytes read_blob(PosixStateStore& s, uint8_t blob) {
  uint32_t size = 0;
  EXPECT_EQ(s.size(blob, &size), 0);
  Bytes b(size);
  if (size) {
    EXPECT_EQ(s.read(blob, 0, b.data(), size), 0);
  }
  return b;
}

int put_blob(PosixStateStore& s, uint8_t blob, const Bytes& data) {
  if (s.begin(blob) != 0) return -1;
  // In pieces, as the agent appends.
  for (size_t at = 0; at < data.size(); at += 37) {
    size_t n = std::min<size_t>(37, data.size() - at);
    if (s.append(data.data() + at, static_cast<uint32_t>(n)) != 0) return -1;
  }
  return s.commit();
}

TEST(device_posix_state_store, MissingBlobsAndRemove) {
  TempDir t;
  PowerSupply power;
  PosixStateStore s((t.path / "dev" / "state").string(), &power);
  uint32_t size = 123;
  EXPECT_EQ(s.size(kBlobState, &size), 0);
  EXPECT_EQ(size, 0u);
  EXPECT_EQ(s.size(kBlobCheckpoint, &size), 0);
  uint8_t b;
  EXPECT_NE(s.read(kBlobState, 0, &b, 1), 0);
  EXPECT_EQ(s.remove(kBlobState), 0);
  EXPECT_NE(s.size(2, &size), 0);
  EXPECT_NE(s.begin(2), 0);
  EXPECT_NE(s.remove(2), 0);

  Bytes state = random_bytes(700, 8), cp = random_bytes(30000, 9);
  ASSERT_EQ(put_blob(s, kBlobState, state), 0);
  ASSERT_EQ(put_blob(s, kBlobCheckpoint, cp), 0);
  EXPECT_EQ(read_blob(s, kBlobState), state);
  EXPECT_EQ(read_blob(s, kBlobCheckpoint), cp);
  EXPECT_TRUE(fs::exists(t.path / "dev" / "state" / "state.bin"));
  EXPECT_TRUE(fs::exists(t.path / "dev" / "state" / "checkpoint.bin"));
  EXPECT_EQ(power.used(), state.size() + cp.size());
  Bytes piece(10);
  ASSERT_EQ(s.read(kBlobCheckpoint, 29990, piece.data(), 10), 0);
  EXPECT_TRUE(std::equal(piece.begin(), piece.end(), cp.begin() + 29990));
  EXPECT_NE(s.read(kBlobCheckpoint, 29991, piece.data(), 10), 0);
  ASSERT_EQ(s.remove(kBlobCheckpoint), 0);
  EXPECT_EQ(s.size(kBlobCheckpoint, &size), 0);
  EXPECT_EQ(size, 0u);
  EXPECT_EQ(read_blob(s, kBlobState), state);
  // An empty blob exists with size 0.
  ASSERT_EQ(put_blob(s, kBlobCheckpoint, {}), 0);
  EXPECT_TRUE(fs::exists(s.path(kBlobCheckpoint)));
}

TEST(device_posix_state_store, AbandonedReplacementChangesNothing) {
  TempDir t;
  PosixStateStore s(t.path.string(), nullptr);
  Bytes old = random_bytes(100, 10);
  ASSERT_EQ(put_blob(s, kBlobState, old), 0);
  uint8_t x[5] = {1, 2, 3, 4, 5};
  ASSERT_EQ(s.begin(kBlobState), 0);
  ASSERT_EQ(s.append(x, 5), 0);
  ASSERT_EQ(s.begin(kBlobCheckpoint), 0);  // abandons the first
  ASSERT_EQ(s.commit(), 0);
  EXPECT_EQ(read_blob(s, kBlobState), old);
  EXPECT_TRUE(read_blob(s, kBlobCheckpoint).empty());
  EXPECT_NE(s.commit(), 0) << "nothing open";
  EXPECT_NE(s.append(x, 5), 0) << "nothing open";
  ASSERT_EQ(s.begin(kBlobState), 0);
  ASSERT_EQ(s.append(x, 5), 0);  // never committed
  PosixStateStore again(t.path.string(), nullptr);
  EXPECT_EQ(read_blob(again, kBlobState), old);
}

TEST(device_posix_state_store, CommitCutAtEveryUnit) {
  TempDir t;
  PowerSupply power;
  PosixStateStore s(t.path.string(), &power);
  const Bytes old = random_bytes(300, 11), next = random_bytes(500, 12);
  for (bool had_old : {true, false}) {
    for (uint64_t k = 0; k <= next.size(); ++k) {
      power.power_on();
      ASSERT_EQ(s.remove(kBlobState), 0);
      if (had_old) {
        ASSERT_EQ(put_blob(s, kBlobState, old), 0);
      }
      power.set_budget(k);
      int rc = put_blob(s, kBlobState, next);
      ASSERT_EQ(rc == 0, k == next.size()) << k;
      if (rc != 0) {
        uint32_t size;
        EXPECT_NE(s.size(kBlobState, &size), 0) << "off";
        EXPECT_NE(s.begin(kBlobState), 0) << "off";
      }
      power.power_on();
      Bytes now = read_blob(s, kBlobState);
      if (rc == 0) {
        EXPECT_EQ(now, next) << k;
      } else if (had_old) {
        EXPECT_EQ(now, old) << k;
      } else {
        EXPECT_TRUE(now.empty()) << k;
      }
    }
  }
}

TEST(device_posix_state_store, ThroughThePortStruct) {
  TempDir t;
  PowerSupply power;
  PosixStateStore store(t.path.string(), &power);
  StatePort p = store.port();
  const uint8_t data[] = "agent state";
  ASSERT_EQ(p.begin(p.ctx, kBlobState), 0);
  ASSERT_EQ(p.append(p.ctx, data, sizeof data), 0);
  ASSERT_EQ(p.commit(p.ctx), 0);
  uint32_t size = 0;
  ASSERT_EQ(p.size(p.ctx, kBlobState, &size), 0);
  EXPECT_EQ(size, sizeof data);
  uint8_t back[sizeof data];
  ASSERT_EQ(p.read(p.ctx, kBlobState, 0, back, sizeof back), 0);
  EXPECT_EQ(0, std::memcmp(back, data, sizeof data));
  power.set_budget(0);
  ASSERT_EQ(p.begin(p.ctx, kBlobState), 0);
  ASSERT_EQ(p.append(p.ctx, data, 3), 0);
  EXPECT_NE(p.commit(p.ctx), 0);
  EXPECT_NE(p.remove(p.ctx, kBlobState), 0);
  power.power_on();
  ASSERT_EQ(p.remove(p.ctx, kBlobState), 0);
  ASSERT_EQ(p.size(p.ctx, kBlobState, &size), 0);
  EXPECT_EQ(size, 0u);
}

// ---------------------------------------------------------------------------
// Staging.

TEST(device_posix_staging, AppendsAreDurable) {
  TempDir t;
  PowerSupply power;
  Bytes data = random_bytes(20000, 13);
  {
    PosixStaging s(t.path.string(), &power);
    uint32_t size = 9;
    ASSERT_EQ(s.size(&size), 0);
    EXPECT_EQ(size, 0u);
    ASSERT_EQ(s.append(data.data(), 7000), 0);
    ASSERT_EQ(s.append(data.data() + 7000, 13000), 0);
    ASSERT_EQ(s.append(data.data(), 0), 0);
  }
  PosixStaging s(t.path.string(), &power);  // after a "reset"
  StagingPort p = s.port();
  uint32_t size = 0;
  ASSERT_EQ(p.size(p.ctx, &size), 0);
  EXPECT_EQ(size, data.size());
  Bytes back(data.size());
  ASSERT_EQ(p.read(p.ctx, 0, back.data(), size), 0);
  EXPECT_EQ(back, data);
  EXPECT_NE(p.read(p.ctx, size - 1, back.data(), 2), 0);
  EXPECT_EQ(power.used(), data.size());
  ASSERT_EQ(p.clear(p.ctx), 0);
  ASSERT_EQ(p.size(p.ctx, &size), 0);
  EXPECT_EQ(size, 0u);
  EXPECT_EQ(p.clear(p.ctx), 0);
}

TEST(device_posix_staging, CutKeepsExactlyThePaidBytes) {
  TempDir t;
  PowerSupply power;
  PosixStaging s(t.path.string(), &power);
  Bytes head = random_bytes(1000, 14), chunk = random_bytes(64, 15);
  for (uint64_t k = 0; k <= chunk.size(); ++k) {
    power.power_on();
    ASSERT_EQ(s.clear(), 0);
    ASSERT_EQ(s.append(head.data(), 1000), 0);
    power.set_budget(k);
    int rc = s.append(chunk.data(), static_cast<uint32_t>(chunk.size()));
    ASSERT_EQ(rc == 0, k == chunk.size());
    uint32_t size;
    if (rc != 0) {
      EXPECT_NE(s.size(&size), 0) << "off";
    }
    power.power_on();
    ASSERT_EQ(s.size(&size), 0);
    ASSERT_EQ(size, 1000 + k);
    Bytes back(size);
    ASSERT_EQ(s.read(0, back.data(), size), 0);
    EXPECT_TRUE(std::equal(head.begin(), head.end(), back.begin()));
    EXPECT_TRUE(std::equal(chunk.begin(), chunk.begin() + k, back.begin() + 1000));
  }
}

// ---------------------------------------------------------------------------
// System and display.

TEST(device_posix_system, VirtualClockMovesOnlyWhenAsked) {
  SystemOptions opt;
  opt.virtual_clock = true;
  opt.start_ms = 5000;
  PosixSystem sys(opt);
  SystemPort p = sys.port();
  EXPECT_EQ(p.now_ms(p.ctx), 5000u);
  p.sleep_ms(p.ctx, 60000);  // returns at once
  EXPECT_EQ(p.now_ms(p.ctx), 65000u);
  sys.advance_ms(5);
  EXPECT_EQ(sys.now_ms(), 65005u);
}

TEST(device_posix_system, SteadyClockRandomAndRestart) {
  PosixSystem sys;
  SystemPort p = sys.port();
  uint64_t t0 = p.now_ms(p.ctx);
  p.sleep_ms(p.ctx, 20);
  EXPECT_GE(p.now_ms(p.ctx) - t0, 20u);
  sys.advance_ms(100000);  // no effect on a real clock
  EXPECT_LT(p.now_ms(p.ctx) - t0, 100000u);

  uint8_t a[32] = {}, b[32] = {};
  ASSERT_EQ(p.random(p.ctx, a, sizeof a), 0);
  ASSERT_EQ(p.random(p.ctx, b, sizeof b), 0);
  EXPECT_NE(0, std::memcmp(a, b, sizeof a));
  EXPECT_EQ(p.random(p.ctx, a, 0), 0);

  EXPECT_FALSE(sys.restart_requested());
  p.restart(p.ctx);
  EXPECT_TRUE(sys.restart_requested());
  EXPECT_EQ(sys.restarts(), 1u);
  sys.clear_restart();
  EXPECT_FALSE(sys.restart_requested());
}

TEST(device_posix_display, CallbacksAndFile) {
  std::vector<std::string> lines;
  uint32_t last_done = 0, last_total = 0;
  PosixDisplay d(
      [&](const char* s, const char* detail) { lines.push_back(std::string(s) + "|" + detail); },
      [&](uint32_t done, uint32_t total) {
        last_done = done;
        last_total = total;
      });
  DisplayPort p = d.port();
  p.status(p.ctx, "downloading", "2.0.0");
  p.progress(p.ctx, 10, 100);
  p.log(p.ctx, kLogInfo, "no log callback: ignored");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "downloading|2.0.0");
  EXPECT_EQ(last_done, 10u);
  EXPECT_EQ(last_total, 100u);
  EXPECT_EQ(d.last_state(), "downloading");
  EXPECT_EQ(d.last_detail(), "2.0.0");

  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  PosixDisplay fd(f, "dev1: ");
  DisplayPort q = fd.port();
  q.status(q.ctx, "checking", "");
  q.status(q.ctx, "installed", "2.0.0");
  q.progress(q.ctx, 1, 2);  // not a terminal: no bar
  q.log(q.ctx, kLogWarn, "slow link");
  q.log(q.ctx, kLogDebug, "hidden");
  std::rewind(f);
  std::string text;
  char buf[256];
  while (std::fgets(buf, sizeof buf, f)) text += buf;
  std::fclose(f);
  EXPECT_EQ(text, "dev1: checking\ndev1: installed 2.0.0\ndev1: [warn] slow link\n");
}

}  // namespace
}  // namespace ota::posix
