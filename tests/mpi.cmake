# SPDX-License-Identifier: MIT
# tests/mpi.cmake - tests of the MPI layer (included by tests/CMakeLists.txt).
#
# test_rankplan (pure, no MPI) always runs.  With the MPI layer built (HG_HAVE_MPI; CI
# configures -DHG_MPI=ON, so a missing MPI fails the configuration instead of skipping),
# the MPI tests run two ranks with mpirun --oversubscribe on this machine, rank 0 on POCL's
# pthread device and rank 1 on POCL's basic device (HETGRAD_DEVICES per rank): Oclgrind,
# when it is in the set, is left out, as it would take minutes.

add_executable(test_rankplan test_rankplan.c ${PROJECT_SOURCE_DIR}/src/mpi/rankplan.c)
target_include_directories(test_rankplan PRIVATE ${PROJECT_SOURCE_DIR}/src/mpi)
target_link_libraries(test_rankplan PRIVATE hetgrad_internal PkgConfig::CHECK)
target_compile_options(test_rankplan PRIVATE ${HG_WARNINGS})
add_test(NAME test_rankplan COMMAND test_rankplan)
set_tests_properties(test_rankplan PROPERTIES ENVIRONMENT "${HG_TEST_ENV}" TIMEOUT 60)

if(NOT HG_HAVE_MPI)
  return()
endif()

# Running as root (CI) needs Open MPI's explicit consent.
set(HG_MPI_TEST_ENV ${HG_TEST_ENV}
  "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
  "HG_TEST_MPI_NAMES=pthread,basic")
list(FILTER HG_MPI_TEST_ENV EXCLUDE REGEX "^OCLGRIND_UNINITIALIZED=")
if(HG_SANITIZE)
  # AddressSanitizer and UBSan check the ranks; LeakSanitizer does not: its stop-the-
  # world tracer crashed now and then at exit ("Tracer caught signal 11") in processes
  # with Open MPI's and POCL's threads, failing tests whose every check had passed.
  # hetgrad's own leaks are caught by the other tests, which run the same library code.
  list(TRANSFORM HG_MPI_TEST_ENV REPLACE "detect_leaks=1" "detect_leaks=0")
endif()

add_executable(test_mpi test_mpi.c)
target_link_libraries(test_mpi PRIVATE hetgrad_mpi PkgConfig::CHECK m)
target_compile_options(test_mpi PRIVATE ${HG_WARNINGS})
add_test(NAME mpi.api
         COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe
                 -np 1 -x HETGRAD_DEVICES=pthread $<TARGET_FILE:test_mpi> :
                 -np 1 -x HETGRAD_DEVICES=basic $<TARGET_FILE:test_mpi>)
set_tests_properties(mpi.api PROPERTIES ENVIRONMENT "${HG_MPI_TEST_ENV}" TIMEOUT 300
                     RUN_SERIAL TRUE)

# The sliced exchange (src/mpi/reduce.c) on 2, 3 and 4 ranks, all on POCL's pthread
# device: its internal functions are compiled into the test (the library hides them).
add_executable(test_mpi_reduce test_mpi_reduce.c
  ${PROJECT_SOURCE_DIR}/src/mpi/reduce.c ${PROJECT_SOURCE_DIR}/src/mpi/exchange.c
  ${PROJECT_SOURCE_DIR}/src/mpi/rankplan.c ${PROJECT_SOURCE_DIR}/src/mpi/error.c)
target_include_directories(test_mpi_reduce PRIVATE ${HG_SRC_DIRS} ${PROJECT_SOURCE_DIR}/src/mpi)
target_link_libraries(test_mpi_reduce PRIVATE hetgrad_mpi PkgConfig::CHECK m)
target_compile_options(test_mpi_reduce PRIVATE ${HG_WARNINGS})
foreach(n 2 3 4)
  add_test(NAME mpi.reduce-${n}
           COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe -np ${n} -x HETGRAD_DEVICES=pthread
                   $<TARGET_FILE:test_mpi_reduce>)
  set_tests_properties(mpi.reduce-${n} PROPERTIES ENVIRONMENT "${HG_MPI_TEST_ENV}" TIMEOUT 300
                       RUN_SERIAL TRUE)
endforeach()

foreach(check train no-device rank-exits rank-hangs)
  add_test(NAME mpi.train-${check}
           COMMAND ${HG_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mpi_check.py ${check}
                   ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:hetgrad-train>
                   ${CMAKE_CURRENT_BINARY_DIR}/mpi-work)
  set_tests_properties(mpi.train-${check} PROPERTIES
    ENVIRONMENT "${HG_MPI_TEST_ENV}" TIMEOUT 600 RUN_SERIAL TRUE)
endforeach()
