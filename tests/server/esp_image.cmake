# ESP32 application image validator tests (included by tests/CMakeLists.txt;
# paths are relative to tests/). `ctest -R '^EspImage'` runs them all.
ota_add_test(esp_image_test ${CMAKE_CURRENT_SOURCE_DIR}/server/esp_image_test.cpp)
target_link_libraries(esp_image_test PRIVATE ota_esp_image)
