// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL side of the store and server suites.
//
// `make test` starts a private PostgreSQL cluster (tests/postgres/pg-cluster.sh,
// a CTest fixture) and CTest runs the store suite's postgresql instances and
// a /postgresql copy of each server suite (OTA_TEST_DB=postgresql) against
// it. A developer's own server may be named with OTA_TEST_POSTGRES_URL
// instead (any form Store::open accepts; the tests create and drop
// databases and schemas of their own in it).
#ifndef OTA_TEST_POSTGRES_H
#define OTA_TEST_POSTGRES_H

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ota::test {

// The cluster's admin URL: $OTA_TEST_POSTGRES_URL, else the first line of
// the file $OTA_TEST_POSTGRES_URL_FILE names (the fixture writes it).
// nullopt with *why set when neither is there; the caller fails when
// postgres_required() and skips with *why otherwise.
std::optional<std::string> postgres_admin_url(std::string* why);
// True when CTest registered this run against the fixture: a missing
// server is then a failure, never a skip.
bool postgres_required();

// True in the /postgresql copies of the server suites (OTA_TEST_DB=postgresql).
bool on_postgres();

// A new, empty database for `key`, its Store URL; the same URL for the same
// key within this process (a server restarted on one data folder keeps its
// database). Dropped when the process exits. Throws std::runtime_error
// when there is no server.
std::string postgres_database_url(const std::string& key);

// What a server suite opens: "sqlite3://DIR/ota.db", or on_postgres() a
// database of its own for DIR.
std::string store_url(const std::filesystem::path& dir);
// The ota-server arguments for a data folder: {} on SQLite (the server's
// default, DATA/ota.db), {"--db", URL} on PostgreSQL.
std::vector<std::string> server_db_args(const std::filesystem::path& data_dir);

}  // namespace ota::test

#endif  // OTA_TEST_POSTGRES_H
