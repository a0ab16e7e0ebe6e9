# End to end: a real ota-server process (TLS on loopback) and simulated
# devices running the device agent (ota_sim_device, the ota-sim binary),
# with the corpus firmware or synthetic ESP32 apps. Included by
# tests/CMakeLists.txt; test suites are named e2e_*: `ctest -R e2e` (or
# `ctest -L e2e`) runs them all.
if(TARGET ota_sim_device AND TARGET ota-server)
  find_package(CURL REQUIRED)
  find_package(nlohmann_json REQUIRED)
  find_package(OpenSSL REQUIRED)
  ota_add_test(agent_e2e_test
    ${CMAKE_CURRENT_LIST_DIR}/agent_e2e_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/e2e_support.cpp)
  target_include_directories(agent_e2e_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(agent_e2e_test PRIVATE ota_sim_device CURL::libcurl nlohmann_json::nlohmann_json
                        OpenSSL::Crypto)
  add_dependencies(agent_e2e_test ota-server otactl ota-sim)

  # The tests are discovered at build time (gtest_discover_tests), so their
  # properties are set by a CTest script that runs after the discovery
  # script has defined agent_e2e_test_TESTS.
  set(_e2e_props "${CMAKE_CURRENT_BINARY_DIR}/agent_e2e_test_properties.cmake")
  file(WRITE "${_e2e_props}"
    "if(DEFINED agent_e2e_test_TESTS)\n"
    "  set_tests_properties(\${agent_e2e_test_TESTS} PROPERTIES TIMEOUT 600 LABELS e2e)\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${_e2e_props}")
  unset(_e2e_props)
endif()
