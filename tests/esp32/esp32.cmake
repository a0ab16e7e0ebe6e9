# The device agent on ESP32 (device/ports/esp32, examples/, packaging), on
# a machine with no ESP32 toolchain. Included by tests/CMakeLists.txt;
# paths are taken from this file's place so that it reads the same from any
# including list file.
get_filename_component(ota_esp32_root "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
#
# esp32_check: tools/esp32-check/esp32-check.sh - the ESP-IDF/Arduino glue
# and both examples compiled (host g++, and rv32imc/Xtensa cross compilers)
# against stand-in headers with the real signatures, linked with no-op
# stand-ins, and the packaging files validated and exercised.
add_test(NAME esp32_check
  COMMAND ${ota_esp32_root}/tools/esp32-check/esp32-check.sh ${ota_esp32_root}
          ${CMAKE_BINARY_DIR}/esp32-check)
set_tests_properties(esp32_check PROPERTIES TIMEOUT 600)

# esp32_ports_test: what the glue decides (the A/B checkpoint store under
# power cuts, the flash port's slot rules, provisioning), on a RAM-backed
# ESP-IDF (tests/esp32/fake_idf.cpp).
ota_add_test(esp32_ports_test
  ${CMAKE_CURRENT_LIST_DIR}/esp32_ports_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/fake_idf.cpp
  ${ota_esp32_root}/device/ports/esp32/src/flash.cpp
  ${ota_esp32_root}/device/ports/esp32/src/state.cpp
  ${ota_esp32_root}/device/ports/esp32/src/provisioning.cpp)
target_include_directories(esp32_ports_test PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}
  ${ota_esp32_root}/tools/esp32-check/stubs
  ${ota_esp32_root}/device/ports/esp32/include)
target_compile_definitions(esp32_ports_test PRIVATE ESP_PLATFORM=1
  OTA_ESP32_TEST_VECTORS="${ota_esp32_root}/tests/vectors")
target_link_libraries(esp32_ports_test PRIVATE ota_port_mbedtls)
