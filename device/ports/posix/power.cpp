// PowerSupply: see ota/posix/power.h.
#include "ota/posix/power.h"

namespace ota::posix {

void PowerSupply::set_budget(uint64_t units) {
  std::lock_guard<std::mutex> lock(mu_);
  budget_ = units;
}

void PowerSupply::disable() {
  std::lock_guard<std::mutex> lock(mu_);
  budget_ = kUnlimited;
}

void PowerSupply::power_on() {
  std::lock_guard<std::mutex> lock(mu_);
  off_ = false;
  budget_ = kUnlimited;
}

bool PowerSupply::off() const {
  std::lock_guard<std::mutex> lock(mu_);
  return off_;
}

uint64_t PowerSupply::used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return used_;
}

uint64_t PowerSupply::remaining() const {
  std::lock_guard<std::mutex> lock(mu_);
  return off_ ? 0 : budget_;
}

uint64_t PowerSupply::cuts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cuts_;
}

bool PowerSupply::draw(uint64_t units, uint64_t* granted) {
  std::lock_guard<std::mutex> lock(mu_);
  if (off_) {
    if (granted) *granted = 0;
    return false;
  }
  if (budget_ == kUnlimited || units <= budget_) {
    if (budget_ != kUnlimited) budget_ -= units;
    used_ += units;
    if (granted) *granted = units;
    return true;
  }
  uint64_t g = budget_;
  used_ += g;
  budget_ = 0;
  off_ = true;
  ++cuts_;
  if (granted) *granted = g;
  return false;
}

}  // namespace ota::posix
