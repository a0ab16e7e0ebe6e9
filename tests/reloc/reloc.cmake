# (included by tests/CMakeLists.txt; paths are relative to tests/.)
# The firmware-aware transform T (device/include/ota/reloc.h) and its
# encoder side (delta/include/ota/delta/reloc_encoder.h), issue #7.
ota_add_test(reloc_test ${CMAKE_CURRENT_SOURCE_DIR}/reloc/reloc_test.cpp)
target_compile_definitions(reloc_test PRIVATE
  OTA_RELOC_GOLDEN_DIR="${CMAKE_CURRENT_SOURCE_DIR}/reloc/golden")
ota_add_test(reloc_patch_test ${CMAKE_CURRENT_SOURCE_DIR}/reloc/reloc_patch_test.cpp)
ota_add_test(reloc_votes_test ${CMAKE_CURRENT_SOURCE_DIR}/reloc/reloc_votes_test.cpp)
