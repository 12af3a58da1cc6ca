# SPDX-License-Identifier: MIT
# grow_headers.cmake - a copy of the public headers in which every growable struct
# (the structs abi/hetgrad.suppr lets grow; docs/abi.md) has one more trailing field, as
# a later release may add.  Test abi.old-client-grown builds the library from this copy
# and runs a program built against the frozen headers of the release on it.  Script mode:
#   cmake -DSRC=<repo>/include -DVERSION_H=<build>/include/hetgrad/version.h
#         -DSUPPR=<repo>/abi/hetgrad.suppr -DOUT=<dir> -P grow_headers.cmake
# Fails when a listed struct is not found in the headers, so that renaming one cannot
# silently turn the test into a copy of abi.old-client.
file(READ "${SUPPR}" suppr)
string(REGEX MATCHALL "type_kind = struct[ \t\r\n]+name = [A-Za-z0-9_]+" found "${suppr}")
set(types "")
foreach(f IN LISTS found)
  string(REGEX REPLACE ".*name = " "" type "${f}")
  list(APPEND types ${type})
endforeach()
if(NOT types)
  message(FATAL_ERROR "grow_headers: ${SUPPR} lists no struct")
endif()

file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}/hetgrad")
file(COPY "${SRC}/hetgrad.h" DESTINATION "${OUT}")
file(GLOB headers "${SRC}/hetgrad/*.h")
file(COPY ${headers} "${VERSION_H}" DESTINATION "${OUT}/hetgrad")
file(GLOB copies "${OUT}/hetgrad/*.h")

foreach(type IN LISTS types)
  set(done FALSE)
  foreach(path IN LISTS copies)
    file(READ "${path}" text)
    string(FIND "${text}" "} ${type};" at)
    if(NOT at EQUAL -1)
      string(REPLACE "} ${type};"
             "    uint64_t abi_test_grown[3]; /* tests/abi/grow_headers.cmake */\n} ${type};"
             text "${text}")
      file(WRITE "${path}" "${text}")
      set(done TRUE)
    endif()
  endforeach()
  if(NOT done)
    message(FATAL_ERROR "grow_headers: '} ${type};' is in no public header")
  endif()
endforeach()
list(LENGTH types n)
message(STATUS "grow_headers: ${n} structs grown in ${OUT}")
