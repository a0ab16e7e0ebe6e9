# The dependency check (tools/check-deps), included by tests/CMakeLists.txt.
ota_add_test(check_deps_test ${CMAKE_CURRENT_LIST_DIR}/check_deps_test.cpp)
add_dependencies(check_deps_test ota_deps_record)
target_compile_definitions(check_deps_test PRIVATE
  OTA_CHECK_DEPS="${PROJECT_SOURCE_DIR}/tools/check-deps/check_deps.py"
  OTA_DEPS_RECORD_LIB="$<TARGET_FILE:ota_deps_record>"
  OTA_PYTHON="${OTA_PYTHON}"
  OTA_BSPATCH="${OTA_BSPATCH}"
  OTA_BUILD_DIR="${CMAKE_BINARY_DIR}")
