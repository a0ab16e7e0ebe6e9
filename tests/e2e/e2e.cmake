# End to end: a real ota-server process (TLS on loopback) and simulated
# devices running the device agent (ota_sim_device, the ota-sim binary),
# with the corpus firmware or synthetic ESP32 apps. Included by
# tests/CMakeLists.txt; test suites are named e2e_*: `ctest -R e2e` (or
# `ctest -L e2e`) runs them all.
find_package(CURL REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(OpenSSL REQUIRED)
ota_add_test(agent_e2e_test
  ${CMAKE_CURRENT_LIST_DIR}/agent_e2e_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/products_e2e_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/release_day_e2e_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rollouts_e2e_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/e2e_support.cpp)
target_include_directories(agent_e2e_test PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(agent_e2e_test PRIVATE ota_sim_device CURL::libcurl nlohmann_json::nlohmann_json
                      OpenSSL::Crypto)
add_dependencies(agent_e2e_test ota-server otactl ota-sim)
ota_test_on_postgres(agent_e2e_test)

# Both copies are labelled e2e (`ctest -L e2e`) and may take long.
ota_discovered_test_properties(agent_e2e_test_TESTS TIMEOUT 600 LABELS e2e)
ota_discovered_test_properties(agent_e2e_test_PG_TESTS TIMEOUT 600 LABELS e2e)
