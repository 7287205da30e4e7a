// The unit that builds the examples' shared precompiled header (examples/CMakeLists.txt).
