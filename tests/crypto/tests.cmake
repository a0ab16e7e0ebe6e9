# Crypto tests (included by tests/CMakeLists.txt; paths are relative to tests/).
# Every test suite is named Crypto*: `ctest -R '^Crypto'` runs them all.
ota_add_test(server_crypto_test ${CMAKE_CURRENT_SOURCE_DIR}/crypto/server_crypto_test.cpp)
target_link_libraries(server_crypto_test PRIVATE ota_server_crypto ota_port_mbedtls)
target_include_directories(server_crypto_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/crypto)

ota_add_test(mbedtls_port_test ${CMAKE_CURRENT_SOURCE_DIR}/crypto/mbedtls_port_test.cpp)
target_link_libraries(mbedtls_port_test PRIVATE ota_server_crypto ota_port_mbedtls)
target_include_directories(mbedtls_port_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/crypto)
