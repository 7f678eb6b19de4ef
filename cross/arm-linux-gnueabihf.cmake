# 32-bit ARM Linux, hard float (ARMv7). The 32-bit target: 32-bit size_t and long,
# and glibc's 32-bit time_t and off_t unless asked otherwise. See linux-common.cmake
# and README.md. Use: cmake -DCMAKE_TOOLCHAIN_FILE=cross/arm-linux-gnueabihf.cmake
#                           -DFSY_CROSS_SYSROOT=<extracted :armhf -dev packages>
set(CMAKE_SYSTEM_PROCESSOR arm)
set(FSY_CROSS_TRIPLE arm-linux-gnueabihf)
set(FSY_CROSS_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/linux-common.cmake)
