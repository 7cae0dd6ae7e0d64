# CMake toolchain file: build for wasm32-wasi with clang and a wasi-libc sysroot.
# Works with Debian's packages (clang lld wasi-libc libclang-rt-14-dev-wasm32), where clang finds
# the sysroot by itself, and with wasi-sdk or any clang given WASI_SYSROOT.
#
#   cmake -S . -B build -DCMAKE_TOOLCHAIN_FILE=path/to/cmake/wasm32-wasi-clang.cmake
#
# Options (cache variables or environment variables of the same name):
#   WASI_CLANG    the C compiler (default: clang on PATH); the C++ one is its clang++ twin
#   WASI_SYSROOT  the wasi-libc sysroot, when clang does not find one by itself

# CMake 3.25 has no WASI platform module; "Generic" (a bare-metal-style target) fits a wasm
# command module: static linking only, no shared libraries, no rpaths.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR wasm32)

if(NOT WASI_CLANG)
  if(DEFINED ENV{WASI_CLANG})
    set(WASI_CLANG "$ENV{WASI_CLANG}")
  else()
    set(WASI_CLANG clang)
  endif()
endif()
if(NOT WASI_SYSROOT AND DEFINED ENV{WASI_SYSROOT})
  set(WASI_SYSROOT "$ENV{WASI_SYSROOT}")
endif()
# try_compile() runs this file again in a fresh project: pass our options on.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES WASI_CLANG WASI_SYSROOT)

set(CMAKE_C_COMPILER "${WASI_CLANG}")
string(REGEX REPLACE "clang([-0-9.]*)$" "clang++\\1" WASI_CLANGXX "${WASI_CLANG}")
set(CMAKE_CXX_COMPILER "${WASI_CLANGXX}")
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
set(CMAKE_CXX_COMPILER_TARGET wasm32-wasi)
if(WASI_SYSROOT)
  set(CMAKE_SYSROOT "${WASI_SYSROOT}")
endif()

# Per language: the Generic platform module resets the plain CMAKE_EXECUTABLE_SUFFIX.
set(CMAKE_EXECUTABLE_SUFFIX_C ".wasm")
set(CMAKE_EXECUTABLE_SUFFIX_CXX ".wasm")
# wasi-libc ships debug info, which lunatic-instrument must drop anyway (binaryen.js cannot keep
# DWARF correct): strip it at link time so the instrument step has nothing to warn about.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,--strip-debug")

# Look for libraries and headers in the sysroot only, programs on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
