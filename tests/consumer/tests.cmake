# consumer.Package and consumer.Subdirectory: tests/consumer/ (an outside project) builds against
# this build's installed package and against this source tree; check.sh says what each checks.
string(REPLACE ";" "|" ckptdb_launcher "${CMAKE_CXX_COMPILER_LAUNCHER}")
set(ckptdb_python "")
if(TARGET _ckptdb)
  set(ckptdb_python ${Python_EXECUTABLE})
endif()
foreach(name Package Subdirectory)
  string(TOLOWER ${name} mode)
  add_test(NAME consumer.${name} COMMAND env
    CMAKE=${CMAKE_COMMAND} SRC=${PROJECT_SOURCE_DIR} BIN=${PROJECT_BINARY_DIR}
    WORK=${PROJECT_BINARY_DIR}/consumer CONFIG=$<CONFIG> CXX=${CMAKE_CXX_COMPILER}
    LAUNCHER=${ckptdb_launcher} PREFIX=${CMAKE_INSTALL_PREFIX} LIBDIR=${CMAKE_INSTALL_LIBDIR}
    INCLUDEDIR=${CMAKE_INSTALL_INCLUDEDIR} BINDIR=${CMAKE_INSTALL_BINDIR} MANDIR=${CMAKE_INSTALL_MANDIR}
    DATADIR=${CMAKE_INSTALL_DATADIR}
    TOOL=$<TARGET_EXISTS:ckptdb_exe> MAN=$<TARGET_EXISTS:ckptdb_man>
    PYTHON=${ckptdb_python} PYDIR=${CKPTDB_PYTHON_INSTALL_DIR}
    bash ${CMAKE_CURRENT_LIST_DIR}/check.sh ${mode})
  # The subdirectory build compiles the library once more (ccache makes a rerun quick).
  set_tests_properties(consumer.${name} PROPERTIES TIMEOUT 1800)
endforeach()
