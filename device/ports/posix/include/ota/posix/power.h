// A power-cut injector shared by the flash, state-store and staging ports of
// one simulated device (see flash.h, files.h). Host code for the simulator
// and the tests; not part of the device build.
#ifndef OTA_POSIX_POWER_H
#define OTA_POSIX_POWER_H

#include <cstdint>
#include <mutex>

namespace ota::posix {

// Power is counted in units: every byte a port writes to flash or staging,
// every byte it erases, and every byte of a state-store commit costs one.
// With a budget of N, the operation during which the N+1-th unit would be
// spent does exactly the part of its work the budget paid for, fails, and
// leaves the supply "off": every later call of every port sharing the supply
// fails (without touching anything) until power_on().
//
// Thread-safe: the simulator may arm or inspect a supply from another
// thread while the device's thread uses its ports.
class PowerSupply {
 public:
  static constexpr uint64_t kUnlimited = UINT64_MAX;

  // Cut after `units` more units (0: the next operation that costs anything
  // fails before doing any of it). Does not switch a supply that is off on.
  void set_budget(uint64_t units);
  // No cut (the default).
  void disable();
  // Power returns after a cut (the simulator's reboot); the budget is
  // unlimited again until the next set_budget.
  void power_on();

  bool off() const;
  // Units spent since construction (a cut operation counts what it did).
  uint64_t used() const;
  // Units left before the cut; kUnlimited when disabled.
  uint64_t remaining() const;
  // Cuts so far.
  uint64_t cuts() const;

  // For the ports: asks for `units`. Returns true when all were granted.
  // Otherwise *granted (may be null) says how many were (0 when already
  // off), and the supply is off from now on.
  bool draw(uint64_t units, uint64_t* granted);

 private:
  mutable std::mutex mu_;
  uint64_t budget_ = kUnlimited;
  uint64_t used_ = 0;
  uint64_t cuts_ = 0;
  bool off_ = false;
};

}  // namespace ota::posix

#endif  // OTA_POSIX_POWER_H
