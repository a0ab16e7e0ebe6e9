# Device core utilities: ESP image check, JSON scanner, PEM/hex (included by
# tests/CMakeLists.txt; paths are relative to tests/). Test suites are named
# device_util_*: `ctest -R device_util` runs them all.
ota_add_test(device_util_test
  ${CMAKE_CURRENT_SOURCE_DIR}/device/esp_image_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/device/json_scan_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/device/pem_test.cpp)
target_link_libraries(device_util_test PRIVATE ota_port_mbedtls)
