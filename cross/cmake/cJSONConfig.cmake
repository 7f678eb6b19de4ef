# A stand-in for Debian's cJSONConfig.cmake in cross builds: the same plain
# `cjson` target (headers as <cjson/cJSON.h>), found under the toolchain's search
# roots (a sysroot, or the mingw-w64 prefix the script builds cJSON into).
find_path(CJSON_INCLUDE_DIR cjson/cJSON.h)
find_library(CJSON_LIBRARY NAMES cjson)
if(NOT CJSON_INCLUDE_DIR OR NOT CJSON_LIBRARY)
  set(cJSON_FOUND FALSE)
  set(cJSON_NOT_FOUND_MESSAGE "cjson/cJSON.h or libcjson not found under ${CMAKE_FIND_ROOT_PATH}")
  return()
endif()
if(NOT TARGET cjson)
  add_library(cjson UNKNOWN IMPORTED)
  set_target_properties(cjson PROPERTIES IMPORTED_LOCATION "${CJSON_LIBRARY}"
                                         INTERFACE_INCLUDE_DIRECTORIES "${CJSON_INCLUDE_DIR}")
endif()
set(CJSON_INCLUDE_DIRS ${CJSON_INCLUDE_DIR})
set(CJSON_LIBRARIES cjson)
set(cJSON_FOUND TRUE)
