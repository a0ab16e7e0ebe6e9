# Cross-implementation tests of the security envelope (docs/protocol.md): an
# independent Python implementation (Debian's python3-cryptography and
# python3-pycryptodome) verifies what our server code makes, and our device
# code, through the mbedTLS and OpenSSL ports, verifies what Python makes.
# Included from tests/CMakeLists.txt.
if(TARGET ota_envelope AND TARGET ota_port_mbedtls)
  add_executable(envelope_vectors ${CMAKE_CURRENT_LIST_DIR}/envelope_vectors.cpp)
  target_link_libraries(envelope_vectors PRIVATE ota_envelope ota_port_mbedtls ota_server_crypto
                                                 ota_device)
  target_compile_features(envelope_vectors PRIVATE cxx_std_20)

  # Debian's interpreter, not a pyenv one on PATH: the packages are Debian's.
  set(OTA_CROSSIMPL_PYTHON /usr/bin/python3)
  set(OTA_CROSSIMPL_WORK ${CMAKE_BINARY_DIR}/crossimpl)
  if(EXISTS ${OTA_CROSSIMPL_PYTHON})
    # The script itself exits 77 (skip) when it cannot import cryptography
    # or pycryptodome's AES (Cryptodome.Cipher.AES on Debian, else Crypto.Cipher.AES).
    add_test(NAME envelope_python_crossimpl
      COMMAND ${OTA_CROSSIMPL_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/envelope_python.py
              ${CMAKE_BINARY_DIR}/bin ${OTA_CROSSIMPL_WORK})
  else()
    add_test(NAME envelope_python_crossimpl
      COMMAND sh -c "echo 'SKIP: ${OTA_CROSSIMPL_PYTHON} not found (apt install python3 python3-cryptography python3-pycryptodome)'; exit 77")
  endif()
  set_tests_properties(envelope_python_crossimpl PROPERTIES
    SKIP_RETURN_CODE 77
    TIMEOUT 120
    REQUIRED_FILES ${CMAKE_BINARY_DIR}/bin/envelope_vectors)
endif()
