# Install rules and the CMake package: find_package(ckptdb CONFIG) gives ckptdb::ckptdb.
# Layout under the prefix (GNUInstallDirs names):
#   LIBDIR/libckptdb.a  INCLUDEDIR/ckptdb/*.h  LIBDIR/cmake/ckptdb/  BINDIR/ckptdb
#   MANDIR/man1/ckptdb.1  DATADIR/bash-completion/completions/ckptdb
# The Python package goes to CKPTDB_PYTHON_INSTALL_DIR (api/python/CMakeLists.txt).
include(CMakePackageConfigHelpers)
set(CKPTDB_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ckptdb)

install(TARGETS ckptdb EXPORT ckptdbTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/api/ckptdb DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(EXPORT ckptdbTargets NAMESPACE ckptdb:: DESTINATION ${CKPTDB_CMAKE_INSTALL_DIR})

set(CKPTDB_FIND_DEPENDENCIES "")
foreach(dep IN LISTS CKPTDB_PACKAGE_DEPENDENCIES)
  string(APPEND CKPTDB_FIND_DEPENDENCIES "find_dependency(${dep})\n")
endforeach()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ckptdbConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ckptdbConfig.cmake INSTALL_DESTINATION ${CKPTDB_CMAKE_INSTALL_DIR})
# 0.x: a minor release may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ckptdbConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ckptdbConfig.cmake ${PROJECT_BINARY_DIR}/ckptdbConfigVersion.cmake
  DESTINATION ${CKPTDB_CMAKE_INSTALL_DIR})

if(TARGET ckptdb_exe)
  install(TARGETS ckptdb_exe RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

  # The man page is the tool's own --help-all, so it cannot drift from the flags. Without
  # --no-discard-stderr: help2man ignores exit codes, so with stderr it would turn "unknown
  # option" into a man page; this way a tool that cannot answer fails the build.
  find_program(CKPTDB_HELP2MAN help2man)
  if(CKPTDB_HELP2MAN)
    set(CKPTDB_BUILD_MAN_DEFAULT ON)
  else()
    set(CKPTDB_BUILD_MAN_DEFAULT OFF)
  endif()
  option(CKPTDB_BUILD_MAN "Generate and install the ckptdb.1 man page (needs help2man)"
         ${CKPTDB_BUILD_MAN_DEFAULT})
  set(CKPTDB_HELP2MAN_OPTIONS "--help-option=--help-all;--version-option=--version" CACHE STRING
      "How help2man asks the ckptdb tool for its help and its version")
  if(CKPTDB_BUILD_MAN)
    if(NOT CKPTDB_HELP2MAN)
      message(FATAL_ERROR "CKPTDB_BUILD_MAN is ON but help2man is missing: apt-get install help2man")
    endif()
    set(man ${PROJECT_BINARY_DIR}/ckptdb.1)
    add_custom_command(OUTPUT ${man}
      COMMAND ${CKPTDB_HELP2MAN} -N ${CKPTDB_HELP2MAN_OPTIONS}
              "--name=inspect and maintain ckptdb checkpoint stores" $<TARGET_FILE:ckptdb_exe> -o ${man}
      DEPENDS ckptdb_exe VERBATIM COMMENT "help2man ckptdb.1")
    add_custom_target(ckptdb_man ALL DEPENDS ${man})
    install(FILES ${man} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  endif()

  # A glob, not if(EXISTS): the build then reconfigures when the script appears or goes.
  file(GLOB completion CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tools/completion/ckptdb.bash)
  if(completion)
    install(FILES ${completion} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
      RENAME ckptdb)
  endif()
endif()
