# CMake module: instrument a wasm executable with lunatic-instrument as part of the normal build.
#
#   include(LunaticInstrument)            # with this directory in CMAKE_MODULE_PATH
#   add_executable(app main.c)
#   lunatic_instrument(app [OUTPUT app.inst.wasm] [OPTIONS --blocking-imports env.* -O 3]
#                          [RUN_TARGET run-app])
#
# This adds a custom command that turns the linked app.wasm into the instrumented module
# (default: <target>.inst.wasm in the current binary directory) and a target <target>_instrumented
# built by `all`. The command depends on the linked file, so it re-runs only when <target> was
# relinked. RUN_TARGET adds a target that runs the result with `lunatic-instrument run`.
# The output path is stored in the target property LUNATIC_INSTRUMENTED_WASM.
#
# The tool: the cache variable LUNATIC_INSTRUMENT, a command line such as
# "npx lunatic-instrument" or "node /path/to/bin/lunatic-instrument.js". By default this module
# uses the copy of the tool it ships with (node ../bin/lunatic-instrument.js, as installed from
# npm), else a lunatic-instrument on PATH or in the project's node_modules/.bin.

set(_LUNATIC_INSTRUMENT_BUNDLED "${CMAKE_CURRENT_LIST_DIR}/../bin/lunatic-instrument.js")

function(_lunatic_instrument_default_command out_var)
  find_program(LUNATIC_NODE node DOC "Node.js, to run lunatic-instrument")
  if(LUNATIC_NODE AND EXISTS "${_LUNATIC_INSTRUMENT_BUNDLED}")
    get_filename_component(script "${_LUNATIC_INSTRUMENT_BUNDLED}" REALPATH)
    set(${out_var} "\"${LUNATIC_NODE}\" \"${script}\"" PARENT_SCOPE)
    return()
  endif()
  find_program(LUNATIC_INSTRUMENT_EXECUTABLE lunatic-instrument
    HINTS "${CMAKE_SOURCE_DIR}/node_modules/.bin" DOC "the lunatic-instrument executable")
  if(LUNATIC_INSTRUMENT_EXECUTABLE)
    set(${out_var} "\"${LUNATIC_INSTRUMENT_EXECUTABLE}\"" PARENT_SCOPE)
  else()
    set(${out_var} "" PARENT_SCOPE)
  endif()
endfunction()

if(NOT LUNATIC_INSTRUMENT)
  _lunatic_instrument_default_command(_lunatic_default)
  set(LUNATIC_INSTRUMENT "${_lunatic_default}" CACHE STRING
    "Command line that runs lunatic-instrument, e.g. \"npx lunatic-instrument\"" FORCE)
endif()

function(lunatic_instrument target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT;RUN_TARGET" "OPTIONS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "lunatic_instrument(${target}): unexpected arguments \"${arg_UNPARSED_ARGUMENTS}\"; "
      "use OUTPUT <file>, OPTIONS <flags>... and RUN_TARGET <name>")
  endif()
  if(NOT TARGET "${target}")
    message(FATAL_ERROR "lunatic_instrument: there is no target \"${target}\"; call it after add_executable(${target} ...)")
  endif()
  get_target_property(type "${target}" TYPE)
  if(NOT type STREQUAL "EXECUTABLE")
    message(FATAL_ERROR "lunatic_instrument: \"${target}\" is a ${type}; only a linked executable (.wasm) can be instrumented")
  endif()
  if(NOT LUNATIC_INSTRUMENT)
    message(FATAL_ERROR "lunatic_instrument: lunatic-instrument not found; install it (npm install lunatic-instrument) "
      "or pass -DLUNATIC_INSTRUMENT=\"npx lunatic-instrument\"")
  endif()

  if(NOT arg_OUTPUT)
    set(arg_OUTPUT "${target}.inst.wasm")
  endif()
  get_filename_component(output "${arg_OUTPUT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  separate_arguments(tool UNIX_COMMAND "${LUNATIC_INSTRUMENT}")

  # DEPENDS on an executable target is also a file-level dependency on its linked output.
  add_custom_command(
    OUTPUT "${output}"
    COMMAND ${tool} "$<TARGET_FILE:${target}>" -o "${output}" ${arg_OPTIONS}
    DEPENDS "${target}"
    COMMENT "Instrumenting ${target} with lunatic-instrument"
    VERBATIM)
  add_custom_target("${target}_instrumented" ALL DEPENDS "${output}")
  set_target_properties("${target}" PROPERTIES LUNATIC_INSTRUMENTED_WASM "${output}")

  if(arg_RUN_TARGET)
    add_custom_target("${arg_RUN_TARGET}"
      COMMAND ${tool} run "${output}"
      DEPENDS "${target}_instrumented"
      COMMENT "Running ${target} with lunatic-instrument"
      USES_TERMINAL
      VERBATIM)
  endif()
endfunction()
