# SPDX-License-Identifier: MIT
# install_test.cmake - install hetgrad into a scratch prefix, then build and
# run a client against it twice: with find_package(hetgrad) and with
# pkg-config; run the installed tools, and read their man pages with
# MANPATH=<prefix>/MANDIR.  Run in script mode with BUILD_DIR, WORK_DIR,
# CLIENT_DIR, MANDIR, MAN_PAGES and SOVERSION (the N of libhetgrad.so.N).
set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "$ ${ARGN}\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# 1. CMake package config.
set(san "")
if(SANITIZE)
  set(san "-DCMAKE_C_FLAGS=-fsanitize=address,undefined")
endif()
run(${CMAKE_COMMAND} -S ${CLIENT_DIR} -B ${WORK_DIR}/cmake-client
    -DCMAKE_PREFIX_PATH=${prefix} ${san})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/cmake-client)
run(${WORK_DIR}/cmake-client/client)
if(NOT last_output MATCHES "hetgrad [0-9]+\\.[0-9]+\\.[0-9]+: [0-9]+ device")
  message(FATAL_ERROR "unexpected client output: ${last_output}")
endif()

# 2. pkg-config.
file(GLOB_RECURSE pcfile ${prefix}/*/hetgrad.pc)
if(NOT pcfile)
  message(FATAL_ERROR "hetgrad.pc was not installed")
endif()
get_filename_component(pcdir "${pcfile}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pcdir}")
run(pkg-config --cflags hetgrad)
string(STRIP "${last_output}" cflags)
run(pkg-config --libs hetgrad)
string(STRIP "${last_output}" libs)
string(REGEX MATCH "-L([^ ]+)" _ "${libs}")
set(libdir "${CMAKE_MATCH_1}")
separate_arguments(cflags_list UNIX_COMMAND "${cflags}")
separate_arguments(libs_list UNIX_COMMAND "${libs}")
set(sanflags "")
if(SANITIZE)
  set(sanflags -fsanitize=address,undefined)
endif()
run(cc -std=c11 -Wall -Wextra -Werror ${sanflags} ${cflags_list}
    ${CLIENT_DIR}/client.c -o ${WORK_DIR}/pc-client ${libs_list} -Wl,-rpath,${libdir})
run(${WORK_DIR}/pc-client)
if(NOT last_output MATCHES "hetgrad [0-9]+\\.[0-9]+\\.[0-9]+: [0-9]+ device")
  message(FATAL_ERROR "unexpected client output: ${last_output}")
endif()

# 2b. The MPI layer, when it was built: find_package(hetgrad COMPONENTS mpi)
# and pkg-config hetgrad-mpi, each client run as one rank under the launcher.
if(MPI)
  set(mpirun ${MPIEXEC} -np 1 --oversubscribe --allow-run-as-root)
  if(SANITIZE)
    # no LeakSanitizer in MPI processes (its tracer crashes now and then at
    # exit next to Open MPI's threads; see tests/mpi.cmake)
    string(REPLACE "detect_leaks=1" "detect_leaks=0" asan "$ENV{ASAN_OPTIONS}")
    set(ENV{ASAN_OPTIONS} "${asan}")
  endif()
  run(${CMAKE_COMMAND} -S ${CLIENT_DIR}_mpi -B ${WORK_DIR}/cmake-mpi-client
      -DCMAKE_PREFIX_PATH=${prefix} ${san})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/cmake-mpi-client)
  run(${mpirun} ${WORK_DIR}/cmake-mpi-client/mpi_client)
  if(NOT last_output MATCHES "hetgrad-mpi [0-9.]+: 1 rank\\(s\\) agreed: yes")
    message(FATAL_ERROR "unexpected MPI client output: ${last_output}")
  endif()
  file(GLOB_RECURSE mpipc ${prefix}/*/hetgrad-mpi.pc)
  if(NOT mpipc)
    message(FATAL_ERROR "hetgrad-mpi.pc was not installed")
  endif()
  run(pkg-config --cflags hetgrad-mpi)
  string(STRIP "${last_output}" mcflags)
  run(pkg-config --libs hetgrad-mpi)
  string(STRIP "${last_output}" mlibs)
  separate_arguments(mcflags_list UNIX_COMMAND "${mcflags}")
  separate_arguments(mlibs_list UNIX_COMMAND "${mlibs}")
  run(cc -std=c11 -Wall -Wextra -Werror ${sanflags} ${mcflags_list}
      ${CLIENT_DIR}_mpi/mpi_client.c -o ${WORK_DIR}/pc-mpi-client ${mlibs_list}
      -Wl,-rpath,${libdir})
  run(${mpirun} ${WORK_DIR}/pc-mpi-client)
  if(NOT last_output MATCHES "1 rank\\(s\\) agreed: yes")
    message(FATAL_ERROR "unexpected MPI client output: ${last_output}")
  endif()
endif()

# 3. The installed tools run.
foreach(tool hetgrad-probe hetgrad-train hetgrad-bench)
  run(${prefix}/bin/${tool} --version)
  if(NOT last_output MATCHES "^${tool} [0-9]+\\.[0-9]+\\.[0-9]+\n$")
    message(FATAL_ERROR "unexpected ${tool} --version: ${last_output}")
  endif()
endforeach()

# 3b. Their man pages: `man TOOL` finds and renders each from the prefix.
set(ENV{MANPATH} "${prefix}/${MANDIR}")
set(ENV{MANWIDTH} "80")
set(ENV{MANPAGER} "cat")
foreach(page ${MAN_PAGES})
  if(NOT EXISTS "${prefix}/${MANDIR}/man1/${page}.1")
    message(FATAL_ERROR "${page}.1 was not installed in ${prefix}/${MANDIR}/man1")
  endif()
  run(man ${page})
  if(NOT last_output MATCHES "NAME\n +${page} +- " OR NOT last_output MATCHES "EXIT STATUS")
    message(FATAL_ERROR "man ${page} from the prefix: unexpected output: ${last_output}")
  endif()
endforeach()
# Without MANPATH, man-db looks beside every PATH directory: with the prefix's
# bin on PATH, `man hetgrad-train` finds the prefix's page.
unset(ENV{MANPATH})
set(ENV{PATH} "${prefix}/bin:$ENV{PATH}")
run(man -w hetgrad-train)
string(STRIP "${last_output}" found)
if(NOT found STREQUAL "${prefix}/${MANDIR}/man1/hetgrad-train.1")
  message(FATAL_ERROR "man -w hetgrad-train with ${prefix}/bin on PATH found '${found}'")
endif()

# 4. The shared libraries carry their SONAME, the ABI version (docs/abi.md).
set(libs hetgrad)
if(MPI)
  list(APPEND libs hetgrad_mpi)
endif()
foreach(lib IN LISTS libs)
  file(GLOB_RECURSE solib ${prefix}/*/lib${lib}.so.${SOVERSION})
  if(NOT solib)
    message(FATAL_ERROR "lib${lib}.so.${SOVERSION} was not installed")
  endif()
  run(objdump -p ${solib})
  if(NOT last_output MATCHES "SONAME +lib${lib}\\.so\\.${SOVERSION}\n")
    message(FATAL_ERROR "lib${lib} has no SONAME lib${lib}.so.${SOVERSION}")
  endif()
endforeach()

# 5. find_package(hetgrad X.Y): while the major version is 0, only the same minor
# version satisfies a request (docs/abi.md): a request for 0.1 is refused.
file(WRITE ${WORK_DIR}/older/CMakeLists.txt
     "cmake_minimum_required(VERSION 3.18)\nproject(older NONE)\n"
     "find_package(hetgrad 0.1 CONFIG)\n"
     "if(hetgrad_FOUND)\n  message(FATAL_ERROR \"0.1 accepted\")\nendif()\n")
run(${CMAKE_COMMAND} -S ${WORK_DIR}/older -B ${WORK_DIR}/older/build
    -DCMAKE_PREFIX_PATH=${prefix})
