# Database layer tests (included by tests/CMakeLists.txt). SQLite always;
# PostgreSQL too when OTA_TEST_POSTGRES_URL is set in the environment.
# Every suite is named Store*: `ctest -R '^Store'` runs them all.
if(TARGET ota_store)
  ota_add_test(store_test ${CMAKE_CURRENT_LIST_DIR}/store_test.cpp)
  # ota_store_internal: the private seam (src/store_internal.h) and SOCI.
  target_link_libraries(store_test PRIVATE ota_store ota_store_internal)
endif()
