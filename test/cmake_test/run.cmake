# test/cmake_test/run.cmake: one step of the packaging test, run by ctest
# as `cmake -D... -P run.cmake`.
#
#   MODE            install | find_package | add_subdirectory | pkg_config
#                   | build_testing_off
#   SOURCE_DIR      pidfd-asio's source tree
#   BINARY_DIR      its build tree (the library is already built there)
#   WORK_DIR        scratch space; the installed tree goes to WORK_DIR/prefix
#   LIBDIR          CMAKE_INSTALL_LIBDIR of the build, e.g. "lib"
#   CXX             the compiler of the build, used for the consumer too
#   SANITIZE        PIDFD_SANITIZE of the build ("" or e.g.
#                   "address,undefined"): an instrumented library needs an
#                   instrumented consumer
#   VERSION         the version the consumer must report
#   PKG_CONFIG      the pkg-config program (pkg_config mode)
#   NM              the nm program (install mode: the library must hold no
#                   Asio symbol, so that any Asio configuration may use it)
#   LIBURING        liburing (find_package_io_uring mode)
#   BOOST_VERSION   the Boost found (find_package_io_uring mode)
#   LAUNCHER        the build's compiler launcher (ccache), or ""
cmake_minimum_required(VERSION 3.25)

set(prefix ${WORK_DIR}/prefix)
set(consumer_src ${CMAKE_CURRENT_LIST_DIR}/consumer)
set(flags "")
if(SANITIZE)
  set(flags "-fsanitize=${SANITIZE} -fno-omit-frame-pointer")
endif()

# Runs a command, echoing it; any failure fails the test.
function(step)
  execute_process(COMMAND ${ARGN} COMMAND_ECHO STDOUT
    COMMAND_ERROR_IS_FATAL ANY)
endfunction()

# Runs the built consumer and checks what it says.
function(run_consumer program)
  execute_process(COMMAND ${program} OUTPUT_VARIABLE out
    RESULT_VARIABLE rc)
  message(STATUS "${program}: ${out}")
  if(NOT rc EQUAL 0
      OR NOT out STREQUAL "pidfd-asio ${VERSION}: true exited with code 0\n")
    message(FATAL_ERROR "unexpected result ${rc}: ${out}")
  endif()
endfunction()

# Configures, builds and runs the consumer project in WORK_DIR/<name>.
function(build_consumer name)
  set(dir ${WORK_DIR}/${name})
  file(REMOVE_RECURSE ${dir})
  # The build's compiler cache, if any, serves the consumers too.
  set(launcher "")
  if(LAUNCHER)
    set(launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
  endif()
  step(${CMAKE_COMMAND} -S ${consumer_src} -B ${dir}
    -DCMAKE_CXX_COMPILER=${CXX} ${launcher}
    "-DCMAKE_CXX_FLAGS=${flags}" "-DCMAKE_EXE_LINKER_FLAGS=${flags}"
    ${ARGN})
  step(${CMAKE_COMMAND} --build ${dir} --parallel 2)
  run_consumer(${dir}/consumer)
endfunction()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE ${prefix})
  step(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})
  foreach(file
      include/pidfd/asio.hpp
      include/pidfd/version.hpp
      include/pidfd/impl/process_io.hpp
      ${LIBDIR}/libpidfd_asio.a
      ${LIBDIR}/cmake/pidfd_asio/pidfd_asioConfig.cmake
      ${LIBDIR}/cmake/pidfd_asio/pidfd_asioConfigVersion.cmake
      ${LIBDIR}/cmake/pidfd_asio/pidfd_asioTargets.cmake
      ${LIBDIR}/pkgconfig/pidfd_asio.pc)
    if(NOT EXISTS ${prefix}/${file})
      message(FATAL_ERROR "not installed: ${file}")
    endif()
  endforeach()
  # Asio's types change with its configuration macros (the io_uring
  # backend, for one): compiled code holding any would break a user who
  # configures Asio otherwise. Only headers may touch Asio.
  execute_process(COMMAND ${NM} -C ${prefix}/${LIBDIR}/libpidfd_asio.a
    OUTPUT_VARIABLE symbols COMMAND_ERROR_IS_FATAL ANY)
  string(REGEX MATCHALL "[^\n]*boost::asio[^\n]*" asio_symbols "${symbols}")
  list(LENGTH asio_symbols count)
  if(count GREATER 0)
    list(GET asio_symbols 0 first)
    message(FATAL_ERROR
      "libpidfd_asio.a holds ${count} Asio symbols, e.g. ${first}")
  endif()
  message(STATUS "libpidfd_asio.a: no boost::asio symbol")

elseif(MODE STREQUAL "find_package")
  build_consumer(find_package -DCMAKE_PREFIX_PATH=${prefix})
  # The package must have come from our prefix, not from a copy installed
  # on the machine.
  file(STRINGS ${WORK_DIR}/find_package/CMakeCache.txt found
    REGEX "^pidfd_asio_DIR:")
  if(NOT found STREQUAL
      "pidfd_asio_DIR:PATH=${prefix}/${LIBDIR}/cmake/pidfd_asio")
    message(FATAL_ERROR "wrong package: ${found}")
  endif()

elseif(MODE STREQUAL "find_package_io_uring")
  # The same installed library, a consumer on Asio's io_uring backend: no
  # backend-specific flag comes from the package.
  if(NOT EXISTS /proc/sys/kernel/io_uring_disabled)
    set(disabled 0)
  else()
    file(READ /proc/sys/kernel/io_uring_disabled disabled)
    string(STRIP "${disabled}" disabled)
  endif()
  if(NOT disabled STREQUAL "0")
    message(STATUS "skipped: io_uring disabled by the kernel "
      "(kernel.io_uring_disabled = ${disabled})")
    return()
  endif()
  string(APPEND flags " -DBOOST_ASIO_HAS_IO_URING"
    " -DBOOST_ASIO_HAS_IO_URING_AS_DEFAULT")
  if(BOOST_VERSION VERSION_LESS 1.82)
    # Boost 1.81's io_uring backend corrupts memory once its submission
    # queue has wrapped (pidfd/impl/asio_backend.hpp): the headers refuse
    # it, saying why, unless the consumer says it knows.
    set(dir ${WORK_DIR}/find_package_io_uring_refused)
    file(REMOVE_RECURSE ${dir})
    step(${CMAKE_COMMAND} -S ${consumer_src} -B ${dir}
      -DCMAKE_CXX_COMPILER=${CXX}
      "-DCMAKE_CXX_FLAGS=${flags}" "-DCMAKE_EXE_LINKER_FLAGS=${flags}"
      -DCMAKE_PREFIX_PATH=${prefix}
      -DCMAKE_CXX_STANDARD_LIBRARIES=${LIBURING})
    execute_process(COMMAND ${CMAKE_COMMAND} --build ${dir}
      OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
    if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES
        "Boost before 1.82 corrupts memory on its io_uring backend")
      message(FATAL_ERROR "Boost ${BOOST_VERSION} on io_uring was not "
        "refused (${rc}): ${out}${err}")
    endif()
    message(STATUS "Boost ${BOOST_VERSION} on io_uring refused, as it must")
    string(APPEND flags " -DPIDFD_ASIO_ALLOW_BOOST_1_81_IO_URING")
  endif()
  build_consumer(find_package_io_uring -DCMAKE_PREFIX_PATH=${prefix}
    -DCMAKE_CXX_STANDARD_LIBRARIES=${LIBURING})

elseif(MODE STREQUAL "add_subdirectory")
  build_consumer(add_subdirectory -DPIDFD_ASIO_SOURCE_DIR=${SOURCE_DIR})

elseif(MODE STREQUAL "pkg_config")
  set(ENV{PKG_CONFIG_PATH} ${prefix}/${LIBDIR}/pkgconfig)
  execute_process(COMMAND ${PKG_CONFIG} --modversion pidfd_asio
    OUTPUT_VARIABLE modversion OUTPUT_STRIP_TRAILING_WHITESPACE
    COMMAND_ERROR_IS_FATAL ANY)
  if(NOT modversion STREQUAL VERSION)
    message(FATAL_ERROR "pkg-config says ${modversion}, expected ${VERSION}")
  endif()
  foreach(part cflags libs)
    execute_process(COMMAND ${PKG_CONFIG} --${part} pidfd_asio
      OUTPUT_VARIABLE pc_${part} OUTPUT_STRIP_TRAILING_WHITESPACE
      COMMAND_ERROR_IS_FATAL ANY)
    message(STATUS "pkg-config --${part} pidfd_asio: ${pc_${part}}")
    separate_arguments(pc_${part} UNIX_COMMAND "${pc_${part}}")
  endforeach()
  separate_arguments(san_flags UNIX_COMMAND "${flags}")
  set(dir ${WORK_DIR}/pkg_config)
  file(REMOVE_RECURSE ${dir})
  file(MAKE_DIRECTORY ${dir})
  # Compiled and linked apart, as a build system does: the compiler cache
  # (LAUNCHER) cannot keep a command that also links. The library goes
  # after the object that uses it, as a static library must.
  step(${LAUNCHER} ${CXX} ${san_flags} -Wall -Wextra -Wpedantic -Werror
    ${pc_cflags} -c ${consumer_src}/main.cpp -o ${dir}/main.o)
  step(${CXX} ${san_flags} ${dir}/main.o -o ${dir}/consumer ${pc_libs})
  run_consumer(${dir}/consumer)

elseif(MODE STREQUAL "build_testing_off")
  # CMake's convention (CTest's BUILD_TESTING) turns the tests off, and
  # configures none of them; PIDFD_BUILD_TESTS=ON still overrides it.
  set(dir ${WORK_DIR}/build_testing_off)
  file(REMOVE_RECURSE ${dir})
  step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${dir}
    -DCMAKE_CXX_COMPILER=${CXX} -DBUILD_TESTING=OFF
    -DPIDFD_BUILD_EXAMPLES=OFF -DPIDFD_BUILD_BENCHMARKS=OFF)
  file(STRINGS ${dir}/CMakeCache.txt tests REGEX "^PIDFD_BUILD_TESTS:")
  if(NOT tests STREQUAL "PIDFD_BUILD_TESTS:BOOL=OFF"
      OR EXISTS ${dir}/test/CTestTestfile.cmake)
    message(FATAL_ERROR "BUILD_TESTING=OFF: ${tests}, tests configured")
  endif()
  file(REMOVE_RECURSE ${dir})

else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
