// SPDX-License-Identifier: Apache-2.0
// Console sessions without sockets, on the store of the suite (SQLite, and
// PostgreSQL in the /postgresql copy): a login's cookie and CSRF token, the
// database holding only the id's digest, expiry, logout, and a second
// server on the same database knowing the session.
#include "ota/server/session_service.h"

#include <gtest/gtest.h>

#include <atomic>

#include "ota/delta/sha256.h"
#include "ota/server/crypto.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kT = 1'764'000'000;

class SessionServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("sessions");
    store_ = Store::open(test::store_url(dir_));
    sessions_ = std::make_unique<SessionService>(*store_, [this] { return now_.load(); });
  }
  void TearDown() override {
    sessions_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  static std::string digest(const std::string& s) {
    return delta::to_hex(sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size())));
  }
  fs::path dir_;
  std::atomic<int64_t> now_{kT};
  std::unique_ptr<Store> store_;
  std::unique_ptr<SessionService> sessions_;
};

TEST_F(SessionServiceTest, ALoginIsFoundByItsCookieAndTheDatabaseKeepsOnlyItsDigest) {
  SessionService::Login l = sessions_->create("admin");
  EXPECT_EQ(l.id.size(), 64u);
  EXPECT_EQ(l.csrf_token.size(), 64u);
  EXPECT_NE(l.id, l.csrf_token);
  EXPECT_EQ(l.expires_at, kT + SessionService::kLifetime);
  auto s = sessions_->find(l.id);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->actor, "admin");
  EXPECT_EQ(s->csrf_token, l.csrf_token);
  // Not the id itself: a stolen database holds no usable cookie.
  EXPECT_FALSE(store_->session(l.id));
  EXPECT_TRUE(store_->session(digest(l.id)));
  // Another login is another session.
  EXPECT_NE(sessions_->create("admin").id, l.id);
  const auto audit = store_->audit_log(10);
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().action, "session.login");
  EXPECT_EQ(audit.back().detail.find(l.id), std::string::npos) << "the cookie is never logged";
}

TEST_F(SessionServiceTest, CsrfTokensMustMatchExactly) {
  SessionService::Login l = sessions_->create("admin");
  auto s = *sessions_->find(l.id);
  EXPECT_TRUE(SessionService::csrf_ok(s, l.csrf_token));
  EXPECT_FALSE(SessionService::csrf_ok(s, ""));
  EXPECT_FALSE(SessionService::csrf_ok(s, l.csrf_token.substr(1)));
  std::string flipped = l.csrf_token;
  flipped[10] = flipped[10] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(SessionService::csrf_ok(s, flipped));
  EXPECT_FALSE(SessionService::csrf_ok(s, l.csrf_token + "0"));
}

TEST_F(SessionServiceTest, MalformedUnknownExpiredAndEndedSessionsAreNotFound) {
  SessionService::Login l = sessions_->create("admin");
  for (const std::string& bad : {std::string(), std::string("x"), std::string(64, 'G'), l.id.substr(0, 63),
                                 l.id + "0", std::string(64, '0'), std::string("' OR 1=1 --")})
    EXPECT_FALSE(sessions_->find(bad)) << bad;
  now_ = kT + SessionService::kLifetime - 1;
  EXPECT_TRUE(sessions_->find(l.id));
  now_ = kT + SessionService::kLifetime;
  EXPECT_FALSE(sessions_->find(l.id)) << "expired";
  // The next login clears expired ones from the table.
  SessionService::Login next = sessions_->create("admin");
  EXPECT_FALSE(store_->session(digest(l.id)));
  EXPECT_TRUE(sessions_->end(next.id));
  EXPECT_FALSE(sessions_->find(next.id));
  EXPECT_FALSE(sessions_->end(next.id)) << "once";
  EXPECT_EQ(store_->audit_log(1).back().action, "session.logout");
}

TEST_F(SessionServiceTest, EveryServerOnTheDatabaseKnowsTheSession) {
  SessionService::Login l = sessions_->create("admin");
  auto other_store = Store::open(test::store_url(dir_));
  SessionService other(*other_store, [this] { return now_.load(); });
  ASSERT_TRUE(other.find(l.id));
  EXPECT_TRUE(other.end(l.id));
  EXPECT_FALSE(sessions_->find(l.id)) << "logged out on one server is logged out on all";
}

}  // namespace
}  // namespace ota::server
