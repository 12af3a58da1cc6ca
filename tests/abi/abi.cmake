# SPDX-License-Identifier: MIT
# tests/abi/abi.cmake - the ABI checks of docs/abi.md (included by tests/CMakeLists.txt).
#
#   abi.exports[-mpi]     each shared library exports exactly the HG_EXTERN functions
#   abi.old-client        a program built against the frozen headers of release
#                         HG_ABI_BASELINE (abi/<release>/include) runs on this library
#   abi.old-client-grown  ... and on a copy of the library whose growable structs all
#                         have an extra trailing field, as a later release may add
#   abi.abidiff[-mpi]     abidiff + the growth rule against abi/<release>/*.abi
#   abi.abidiff-grown     the grown copy passes that check: growth is allowed
#
# The abidiff checks need libabigail's abidw and abidiff (Debian: abigail-tools,
# installed by scripts/setup.sh) and a library with debug info (-g: build types
# RelWithDebInfo, the default, and Debug).  HG_ABI_CHECK=OFF leaves them out; with it
# ON, missing tools fail the configuration instead of skipping the tests.
if(CMAKE_BUILD_TYPE MATCHES "^(Release|MinSizeRel)$")
  set(hg_abi_default OFF)
else()
  set(hg_abi_default ON)
endif()
option(HG_ABI_CHECK "abidiff the libraries against the ABI baseline in abi/ (needs -g)"
       ${hg_abi_default})

set(HG_ABI_FROZEN ${PROJECT_SOURCE_DIR}/abi/${HG_ABI_BASELINE}/include)
set(HG_ABI_SUPPR ${PROJECT_SOURCE_DIR}/abi/hetgrad.suppr)
if(NOT EXISTS ${HG_ABI_FROZEN}/hetgrad.h)
  message(FATAL_ERROR "ABI baseline ${HG_ABI_BASELINE}: ${HG_ABI_FROZEN}/hetgrad.h is "
                      "missing (sh scripts/abi-baseline.sh writes it; docs/abi.md)")
endif()
set(hg_core_headers
  ${PROJECT_SOURCE_DIR}/include/hetgrad.h
  ${PROJECT_SOURCE_DIR}/include/hetgrad/common.h
  ${PROJECT_SOURCE_DIR}/include/hetgrad/status.h
  ${PROJECT_SOURCE_DIR}/include/hetgrad/device.h
  ${PROJECT_SOURCE_DIR}/include/hetgrad/model.h
  ${PROJECT_SOURCE_DIR}/include/hetgrad/engine.h
  ${PROJECT_SOURCE_DIR}/include/hetgrad/data.h
  ${PROJECT_SOURCE_DIR}/include/hetgrad/sparse.h
  ${PROJECT_SOURCE_DIR}/include/hetgrad/train.h
  ${PROJECT_SOURCE_DIR}/include/hetgrad/checkpoint.h)

# ---- exported symbols ------------------------------------------------------------
add_test(NAME abi.exports
         COMMAND ${HG_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/abi/check_exports.py
                 $<TARGET_FILE:hetgrad> ${hg_core_headers})
if(HG_HAVE_MPI)
  add_test(NAME abi.exports-mpi
           COMMAND ${HG_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/abi/check_exports.py
                   $<TARGET_FILE:hetgrad_mpi> ${PROJECT_SOURCE_DIR}/include/hetgrad/mpi.h)
endif()

# ---- a client of the baseline release, on this library ---------------------------
add_executable(abi_old_client abi/old_client.c)
target_include_directories(abi_old_client BEFORE PRIVATE ${HG_ABI_FROZEN})
target_link_libraries(abi_old_client PRIVATE hetgrad m)
add_test(NAME abi.old-client COMMAND abi_old_client $<TARGET_FILE_DIR:hetgrad>)
set_tests_properties(abi.old-client PROPERTIES ENVIRONMENT "${HG_TEST_ENV}" TIMEOUT 300)

# ---- ... and on a library whose growable structs grew ----------------------------
set(hg_grown ${CMAKE_CURRENT_BINARY_DIR}/abi-grown)
file(GLOB hg_public_headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/hetgrad/*.h)
add_custom_command(
  OUTPUT ${hg_grown}/include/hetgrad.h
  COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_SOURCE_DIR}/include
          -DVERSION_H=${PROJECT_BINARY_DIR}/include/hetgrad/version.h
          -DSUPPR=${HG_ABI_SUPPR} -DOUT=${hg_grown}/include
          -P ${CMAKE_CURRENT_SOURCE_DIR}/abi/grow_headers.cmake
  DEPENDS ${PROJECT_SOURCE_DIR}/include/hetgrad.h ${hg_public_headers}
          ${PROJECT_BINARY_DIR}/include/hetgrad/version.h ${HG_ABI_SUPPR}
          ${CMAKE_CURRENT_SOURCE_DIR}/abi/grow_headers.cmake
  COMMENT "Public headers with grown structs (ABI test)"
  VERBATIM)
list(TRANSFORM HG_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/ OUTPUT_VARIABLE hg_grown_sources)
list(TRANSFORM HG_SCHED_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/ OUTPUT_VARIABLE hg_grown_sched)
add_library(hetgrad_abi_grown SHARED ${hg_grown_sources} ${hg_grown_sched}
            ${hg_grown}/include/hetgrad.h
            $<TARGET_OBJECTS:hetgrad_kernels>)
set_target_properties(hetgrad_abi_grown PROPERTIES
  OUTPUT_NAME hetgrad
  VERSION ${PROJECT_VERSION}
  SOVERSION ${HG_ABI_VERSION}
  C_VISIBILITY_PRESET hidden
  LIBRARY_OUTPUT_DIRECTORY ${hg_grown}/lib)
# The grown headers only: the repository's include/ must not be on the path.
target_include_directories(hetgrad_abi_grown PRIVATE ${hg_grown}/include
                           ${HG_SRC_DIRS})
target_compile_definitions(hetgrad_abi_grown PRIVATE
  HETGRAD_BUILDING CL_TARGET_OPENCL_VERSION=300 CL_USE_DEPRECATED_OPENCL_1_2_APIS)
target_link_libraries(hetgrad_abi_grown PRIVATE
  OpenCL::OpenCL PkgConfig::CLBLAST Threads::Threads ZLIB::ZLIB m)

add_executable(abi_old_client_grown abi/old_client.c)
target_include_directories(abi_old_client_grown PRIVATE ${HG_ABI_FROZEN})
target_link_libraries(abi_old_client_grown PRIVATE hetgrad_abi_grown m)
add_test(NAME abi.old-client-grown COMMAND abi_old_client_grown ${hg_grown}/lib)
set_tests_properties(abi.old-client-grown PROPERTIES ENVIRONMENT "${HG_TEST_ENV}" TIMEOUT 300)

# ---- abidiff against the baseline -------------------------------------------------
if(NOT HG_ABI_CHECK)
  message(STATUS "hetgrad ABI check: abidiff off (HG_ABI_CHECK=OFF)")
  return()
endif()
find_program(HG_ABIDW abidw)
find_program(HG_ABIDIFF abidiff)
if(NOT HG_ABIDW OR NOT HG_ABIDIFF)
  message(FATAL_ERROR "HG_ABI_CHECK=ON but libabigail's abidw / abidiff were not found: "
                      "apt-get install abigail-tools (scripts/setup.sh), or configure "
                      "with -DHG_ABI_CHECK=OFF.")
endif()
set(hg_abi_env "ABIDW=${HG_ABIDW}" "ABIDIFF=${HG_ABIDIFF}")
set(hg_abi_work ${CMAKE_CURRENT_BINARY_DIR}/abi-check)
function(hg_abidiff_test name baseline library)
  add_test(NAME ${name}
           COMMAND ${HG_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/abi/abi_check.py check
                   ${baseline} ${library} ${HG_ABI_SUPPR} ${hg_abi_work}/${name} ${ARGN})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${hg_abi_env}" TIMEOUT 300)
endfunction()
set(hg_baseline ${PROJECT_SOURCE_DIR}/abi/${HG_ABI_BASELINE})
hg_abidiff_test(abi.abidiff ${hg_baseline}/libhetgrad.abi $<TARGET_FILE:hetgrad>
                ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include)
hg_abidiff_test(abi.abidiff-grown ${hg_baseline}/libhetgrad.abi
                $<TARGET_FILE:hetgrad_abi_grown> ${hg_grown}/include)
if(HG_HAVE_MPI)
  hg_abidiff_test(abi.abidiff-mpi ${hg_baseline}/libhetgrad_mpi.abi
                  $<TARGET_FILE:hetgrad_mpi>
                  ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include)
endif()
message(STATUS "hetgrad ABI check: against release ${HG_ABI_BASELINE} (${HG_ABIDIFF})")
