// SPDX-License-Identifier: Apache-2.0
//
// The web console's files (server/console), compiled into ota-server so it
// needs nothing at run time: no CDN, no folder to deploy beside it.
#ifndef OTA_SERVER_CONSOLE_ASSETS_H
#define OTA_SERVER_CONSOLE_ASSETS_H

#include <cstddef>
#include <string_view>
#include <vector>

namespace ota::server {

struct ConsoleAsset {
  const char* path;  // relative to server/console, e.g. "index.html", "views/devices.js"
  const unsigned char* bytes;
  size_t size;
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes), size}; }
};

const std::vector<ConsoleAsset>& console_assets();

}  // namespace ota::server

#endif  // OTA_SERVER_CONSOLE_ASSETS_H
