# SystemC as the imported target SystemC::systemc. An upstream CMake build of SystemC exports
# it; Debian's libsystemc-dev ships only pkg-config files, and its library is built as C++17,
# which every translation unit that includes SystemC must match (SC_CPLUSPLUS).
find_package(SystemCLanguage CONFIG QUIET)
if(NOT SystemCLanguage_FOUND)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(SYSTEMC REQUIRED IMPORTED_TARGET systemc>=2.3.3)
  add_library(SystemC::systemc ALIAS PkgConfig::SYSTEMC)
  set_property(TARGET PkgConfig::SYSTEMC APPEND PROPERTY
               INTERFACE_COMPILE_DEFINITIONS SC_CPLUSPLUS=201703L)
endif()
