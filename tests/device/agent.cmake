# The device agent on the simulator's ports against an in-process fake server.
find_package(nlohmann_json REQUIRED)
ota_add_test(agent_test device/agent_test.cpp)
target_link_libraries(agent_test PRIVATE ota_sim_device ota_envelope ota_port_posix
                      nlohmann_json::nlohmann_json)
