# The console in headless Chromium (written by the console work; see docs/console.md).
