# Shared part of the Linux ARM toolchain files (aarch64-linux-gnu.cmake and
# arm-linux-gnueabihf.cmake set FSY_CROSS_TRIPLE and FSY_CROSS_QEMU, then include
# this). Compilers are Debian's gcc-<triple>; the libraries (SQLite, cJSON,
# mbedTLS, libcurl, zlib) come from Debian's -dev packages for the target, either
#   - extracted into a sysroot folder (FSY_CROSS_SYSROOT, what build-and-test.sh
#     does: no dpkg architecture is added to the machine), or
#   - installed with multiarch (dpkg --add-architecture arm64; FSY_CROSS_SYSROOT
#     unset), in which case they live in /usr/lib/<triple> and /usr/include.
# Tests run through qemu-user with the cross toolchain's libc (/usr/<triple>).

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${FSY_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${FSY_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${FSY_CROSS_TRIPLE})

# Given on the command line (-DFSY_CROSS_SYSROOT=...) or in the environment. The
# environment carries it into CMake's try_compile projects, which re-read this file.
if(FSY_CROSS_SYSROOT)
  set(ENV{FSY_CROSS_SYSROOT} "${FSY_CROSS_SYSROOT}")
elseif(DEFINED ENV{FSY_CROSS_SYSROOT})
  set(FSY_CROSS_SYSROOT "$ENV{FSY_CROSS_SYSROOT}")
endif()

set(_fsy_libdirs "")
if(FSY_CROSS_SYSROOT)
  # Search only the sysroot for libraries, headers and packages; programs (cmake,
  # pkg-config, nm) stay the host's. Not CMAKE_SYSROOT: the compiler keeps the
  # cross toolchain's own libc, and the sysroot holds no libc headers.
  set(CMAKE_FIND_ROOT_PATH "${FSY_CROSS_SYSROOT}")
  set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
  set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
  set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
  set(_fsy_libdirs "${FSY_CROSS_SYSROOT}/usr/lib/${FSY_CROSS_TRIPLE}"
                   "${FSY_CROSS_SYSROOT}/lib/${FSY_CROSS_TRIPLE}")
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${FSY_CROSS_SYSROOT}")
  set(ENV{PKG_CONFIG_LIBDIR}
      "${FSY_CROSS_SYSROOT}/usr/lib/${FSY_CROSS_TRIPLE}/pkgconfig:${FSY_CROSS_SYSROOT}/usr/share/pkgconfig")
  # Debian's cJSONConfig.cmake names absolute /usr paths, wrong inside a
  # sysroot; this one finds the same files under the search roots.
  set(cJSON_DIR "${CMAKE_CURRENT_LIST_DIR}/cmake" CACHE PATH "cJSON config for cross builds")
else()
  # Multiarch: never pick up the build machine's own x86_64 libraries.
  set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu
                        /usr/include/x86_64-linux-gnu)
  set(_fsy_libdirs "/usr/lib/${FSY_CROSS_TRIPLE}" "/lib/${FSY_CROSS_TRIPLE}")
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${FSY_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig")
endif()

# libcurl's own dependencies (nghttp2, krb5, ...) must resolve at link time.
string(REPLACE ";" ":" _fsy_path "${_fsy_libdirs}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_fsy_path}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_fsy_path}")

# ctest runs every test binary through this.
set(CMAKE_CROSSCOMPILING_EMULATOR
    ${FSY_CROSS_QEMU} -L /usr/${FSY_CROSS_TRIPLE} -E LD_LIBRARY_PATH=${_fsy_path})
