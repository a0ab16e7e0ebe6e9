# The simulator's POSIX ports (device/ports/posix), included by
# tests/CMakeLists.txt. Test suites are named device_posix_*: `ctest -R posix`
# runs them all. The transport tests talk to a loopback server inside the
# test; the TLS ones also use the openssl command (skipped without it).
ota_add_test(posix_ports_test
  ${CMAKE_CURRENT_SOURCE_DIR}/device/posix_ports_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/device/posix_transport_test.cpp)
target_link_libraries(posix_ports_test PRIVATE ota_port_posix)
