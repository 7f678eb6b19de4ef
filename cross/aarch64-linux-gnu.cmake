# 64-bit ARM Linux (tablets, Raspberry Pi 3+ on a 64-bit OS). See linux-common.cmake
# and README.md. Use: cmake -DCMAKE_TOOLCHAIN_FILE=cross/aarch64-linux-gnu.cmake
#                           [-DFSY_CROSS_SYSROOT=<extracted :arm64 -dev packages>]
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(FSY_CROSS_TRIPLE aarch64-linux-gnu)
set(FSY_CROSS_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/linux-common.cmake)
