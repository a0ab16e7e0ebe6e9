# The web console in headless Chromium (tests/browser/README.md), included by
# tests/CMakeLists.txt: a real ota-server and simulated fleets on loopback,
# the console driven by playwright-core (tests/browser/package-lock.json,
# installed by `make deps` with npm ci) in Debian's chromium. Nothing is
# downloaded at test time, and nothing is optional: a missing piece stops
# the configure step with what to install.

# Debian's interpreter and browser, not whatever a PATH holds.
ota_require_program(OTA_NODE NAMES node nodejs PATHS /usr/bin NO_DEFAULT_PATH PACKAGE nodejs
                    FOR "the console_browser test (node:test drives the browser)")
ota_require_program(OTA_CHROMIUM NAMES chromium PATHS /usr/bin NO_DEFAULT_PATH PACKAGE chromium
                    FOR "the console_browser test (headless Chromium)")

set(OTA_BROWSER_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
set(_playwright_pkg ${OTA_BROWSER_TEST_DIR}/node_modules/playwright-core/package.json)
if(NOT EXISTS ${_playwright_pkg})
  message(FATAL_ERROR "the console_browser test needs playwright-core in "
                      "${OTA_BROWSER_TEST_DIR}/node_modules: run make deps "
                      "(npm ci in tests/browser, from its package-lock.json)")
endif()
# The version the lockfile pins, not a leftover of an older install.
file(READ ${_playwright_pkg} _playwright_json)
string(JSON _playwright_have GET "${_playwright_json}" version)
file(READ ${OTA_BROWSER_TEST_DIR}/package.json _browser_pkg_json)
string(JSON _playwright_want GET "${_browser_pkg_json}" dependencies playwright-core)
if(NOT _playwright_have STREQUAL _playwright_want)
  message(FATAL_ERROR "tests/browser/node_modules has playwright-core ${_playwright_have}, "
                      "package.json wants ${_playwright_want}: run make deps")
endif()
# The node_modules tree is read at test time; configure again when it changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_playwright_pkg}
             ${OTA_BROWSER_TEST_DIR}/package.json)

set(OTA_BROWSER_OUT ${CMAKE_BINARY_DIR}/browser-test)
add_test(NAME console_browser
  COMMAND ${CMAKE_COMMAND} -E env
          OTA_SERVER_BIN=$<TARGET_FILE:ota-server>
          OTA_SIM_BIN=$<TARGET_FILE:ota-sim>
          OTA_FWGEN_BIN=$<TARGET_FILE:ota-fwgen>
          OTA_CHROMIUM=${OTA_CHROMIUM}
          OTA_BROWSER_OUT=${OTA_BROWSER_OUT}
          ${OTA_NODE} --test --test-reporter=spec ${OTA_BROWSER_TEST_DIR}/console.test.mjs
  WORKING_DIRECTORY ${OTA_BROWSER_TEST_DIR})
# A browser, a server and 28 simulated devices: both cores while it runs.
set_tests_properties(console_browser PROPERTIES TIMEOUT 400 PROCESSORS 2 LABELS browser)
