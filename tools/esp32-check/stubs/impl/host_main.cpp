// Entry point of the link-check executables (tools/esp32-check): the
// examples' own entry points (app_main, setup/loop) are linked in and must
// resolve every symbol they use, but nothing is run.
int main() { return 0; }
