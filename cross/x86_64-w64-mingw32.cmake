# 64-bit Windows with Debian's mingw-w64 (win32 threads, msvcrt). Core only: the
# client and daemon are POSIX programs. SQLite, cJSON and mbedTLS are static
# libraries under FSY_CROSS_PREFIX, which build-and-test.sh builds from Debian's
# source packages. Tests run under wine. See README.md.
# Use: cmake -DCMAKE_TOOLCHAIN_FILE=cross/x86_64-w64-mingw32.cmake
#            -DFSY_CROSS_PREFIX=<prefix with include/ and lib/> -DFIELDSYNC_CLIENT=OFF
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)

# Carried through the environment into try_compile projects (see linux-common.cmake).
if(FSY_CROSS_PREFIX)
  set(ENV{FSY_CROSS_PREFIX} "${FSY_CROSS_PREFIX}")
elseif(DEFINED ENV{FSY_CROSS_PREFIX})
  set(FSY_CROSS_PREFIX "$ENV{FSY_CROSS_PREFIX}")
endif()

set(CMAKE_FIND_ROOT_PATH "${FSY_CROSS_PREFIX}" /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Static libraries only: a test .exe then needs no DLL beside it under wine.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
set(cJSON_DIR "${CMAKE_CURRENT_LIST_DIR}/cmake" CACHE PATH "cJSON config for cross builds")

# cJSON.h marks its API __declspec(dllexport) on Windows unless told otherwise,
# which would make fieldsync.dll export cJSON_* next to the fsy_ API.
set(CMAKE_C_FLAGS_INIT "-DCJSON_HIDE_SYMBOLS -D__USE_MINGW_ANSI_STDIO=1")
set(CMAKE_CXX_FLAGS_INIT "-DCJSON_HIDE_SYMBOLS -D__USE_MINGW_ANSI_STDIO=1")
# No libgcc/libstdc++/winpthread DLLs to ship or to find under wine.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc")

set(CMAKE_CROSSCOMPILING_EMULATOR /usr/lib/wine/wine64)
