# SPDX-License-Identifier: MIT
# cmake/mpi.cmake - the optional MPI layer (docs/mpi.md): libhetgrad_mpi (target
# hetgrad::mpi, pkg-config hetgrad-mpi) and hetgrad-train's multi-rank mode.  The core
# library never depends on MPI.
#
#   -DHG_MPI=AUTO  (default) build it when Open MPI is found
#   -DHG_MPI=ON    require it: configuring fails without MPI (scripts/test.sh, CI)
#   -DHG_MPI=OFF   never build it
set(HG_MPI "AUTO" CACHE STRING "Build the MPI layer: AUTO (when MPI is found), ON, OFF")
set_property(CACHE HG_MPI PROPERTY STRINGS AUTO ON OFF)
set(HG_HAVE_MPI OFF)
if(HG_MPI STREQUAL "ON" OR HG_MPI STREQUAL "AUTO")
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND)
    set(HG_HAVE_MPI ON)
  elseif(HG_MPI STREQUAL "ON")
    message(FATAL_ERROR "HG_MPI=ON but no MPI C library was found: install Open MPI "
                        "(apt-get install libopenmpi-dev openmpi-bin, or scripts/setup.sh), "
                        "or configure with -DHG_MPI=AUTO or OFF.")
  endif()
elseif(NOT HG_MPI STREQUAL "OFF")
  message(FATAL_ERROR "HG_MPI must be AUTO, ON or OFF, not '${HG_MPI}'")
endif()
if(NOT HG_HAVE_MPI)
  message(STATUS "hetgrad MPI layer: off (HG_MPI=${HG_MPI})")
  return()
endif()
message(STATUS "hetgrad MPI layer: on (MPI ${MPI_C_VERSION}, ${MPIEXEC_EXECUTABLE})")

# The scheduler's objects (src/sched/: the rank balancer is its balance.c) and the
# sized-struct helpers (sized.c) are linked into this library too: libhetgrad keeps its
# hg__ symbols hidden.
set(HG_MPI_SOURCES
  src/mpi/agree.c
  src/mpi/context.c
  src/mpi/error.c
  src/mpi/exchange.c
  src/mpi/rankplan.c
  src/mpi/reduce.c)
add_library(hetgrad_mpi SHARED ${HG_MPI_SOURCES} src/util/sized.c $<TARGET_OBJECTS:hetgrad_sched>)
add_library(hetgrad::mpi ALIAS hetgrad_mpi)
set_source_files_properties(${HG_MPI_SOURCES} PROPERTIES COMPILE_OPTIONS "${HG_WARNINGS}")
set_target_properties(hetgrad_mpi PROPERTIES
  VERSION ${PROJECT_VERSION}
  SOVERSION ${HG_ABI_VERSION}
  C_VISIBILITY_PRESET hidden
  OUTPUT_NAME hetgrad_mpi
  EXPORT_NAME mpi
  BUILD_RPATH "${PROJECT_BINARY_DIR}")
target_compile_definitions(hetgrad_mpi PRIVATE HETGRAD_BUILDING)
target_include_directories(hetgrad_mpi
  PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  PRIVATE ${HG_SRC_DIRS} ${PROJECT_SOURCE_DIR}/src/mpi)
target_link_libraries(hetgrad_mpi PUBLIC hetgrad MPI::MPI_C PRIVATE m)

# hetgrad-train runs one rank per process under mpirun (tools/train_mpi.c).
target_compile_definitions(hetgrad-train PRIVATE HG_HAVE_MPI=1)
target_link_libraries(hetgrad-train PRIVATE hetgrad_mpi)

install(TARGETS hetgrad_mpi EXPORT hetgradMpiTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES include/hetgrad/mpi.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hetgrad)
install(EXPORT hetgradMpiTargets NAMESPACE hetgrad::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/hetgrad)
configure_file(cmake/hetgrad-mpi.pc.in ${PROJECT_BINARY_DIR}/hetgrad-mpi.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/hetgrad-mpi.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
