# No part of the product is silently optional: every program, header and
# library the build and the tests need is looked for here, at configure
# time, and a missing one stops the configure step with the Debian package
# to install (`make deps` installs them all; tools/check-deps proves the
# Makefile's lists complete). The only way to leave a part out is an
# explicit option (OTA_BUILD_TESTS, OTA_BUILD_BENCH, OTA_TEST_POSTGRES),
# and `make test` then says what did not run.

# Stops the configure step when <var> was not found, naming the package.
function(_ota_stop_unless_found var names package for)
  if(NOT ${var})
    list(JOIN names " or " names)
    message(FATAL_ERROR "${for} needs ${names}: install the Debian package ${package} "
                        "(`make deps` installs every package the project needs)")
  endif()
endfunction()

# ota_require_program(<VAR> NAMES <name>... PACKAGE <debian package>
#                     FOR <what needs it> [PATHS <dir>...] [NO_DEFAULT_PATH])
# Sets <VAR> (cached) to the program's path, or stops with the package.
function(ota_require_program var)
  cmake_parse_arguments(A "NO_DEFAULT_PATH" "PACKAGE;FOR" "NAMES;PATHS" ${ARGN})
  set(no_default)
  if(A_NO_DEFAULT_PATH)
    set(no_default NO_DEFAULT_PATH)
  endif()
  find_program(${var} NAMES ${A_NAMES} PATHS ${A_PATHS} ${no_default})
  _ota_stop_unless_found(${var} "${A_NAMES}" ${A_PACKAGE} "${A_FOR}")
endfunction()

# ota_require_file(<VAR> NAMES <file>... PACKAGE <pkg> FOR <what> [PATHS ...]
#                  [PATH_SUFFIXES ...])   a header or a library file
function(ota_require_file var)
  cmake_parse_arguments(A "" "PACKAGE;FOR;KIND" "NAMES;PATHS;PATH_SUFFIXES" ${ARGN})
  if(A_KIND STREQUAL "library")
    find_library(${var} NAMES ${A_NAMES} PATHS ${A_PATHS} PATH_SUFFIXES ${A_PATH_SUFFIXES})
  else()
    find_path(${var} NAMES ${A_NAMES} PATHS ${A_PATHS} PATH_SUFFIXES ${A_PATH_SUFFIXES})
  endif()
  _ota_stop_unless_found(${var} "${A_NAMES}" ${A_PACKAGE} "${A_FOR}")
endfunction()
