/* Stand-in for the sdkconfig.h that ESP-IDF generates per project from
 * Kconfig (build/config/sdkconfig.h). The values are those of an ESP32
 * (CONFIG_IDF_FIRMWARE_CHIP_ID 0x0000) with ESP-IDF's defaults, plus the
 * ESP-IDF example's own options (examples/esp-idf-client/main/Kconfig.projbuild)
 * at their defaults. */
#ifndef OTA_STUB_SDKCONFIG_H
#define OTA_STUB_SDKCONFIG_H

#define CONFIG_IDF_TARGET "esp32"
#define CONFIG_IDF_TARGET_ESP32 1
#define CONFIG_IDF_FIRMWARE_CHIP_ID 0x0000
#define CONFIG_FREERTOS_HZ 100
#define CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE 1

#define CONFIG_OTA_WIFI_SSID "myssid"
#define CONFIG_OTA_WIFI_PASSWORD "mypassword"
#define CONFIG_OTA_CHECK_INTERVAL_S 60
#define CONFIG_OTA_FACTORY_VERSION ""

#endif
