# Database layer tests (included by tests/CMakeLists.txt), each on SQLite and
# on PostgreSQL (the private cluster of the `postgres` fixture, or the server
# OTA_TEST_POSTGRES_URL names). Every suite is named Store*: `ctest -R
# '^Store'` runs them all.
add_executable(store_test ${CMAKE_CURRENT_LIST_DIR}/store_test.cpp)
target_link_libraries(store_test PRIVATE ota_test_support ota_test_postgres GTest::gtest_main
                      ota_store ota_store_internal)
target_compile_features(store_test PRIVATE cxx_std_20)
gtest_discover_tests(store_test DISCOVERY_TIMEOUT 60 TEST_LIST store_test_TESTS)
ota_discovered_test_properties(store_test_TESTS ENV "${OTA_TEST_ENV}|${OTA_PG_ENV}"
                               FIXTURE "${OTA_PG_FIXTURE}")
