# Warnings for our own code only; third-party headers come in as SYSTEM includes. As errors only
# where PVT_WERROR asks for it (the project's CI): a user's or packager's build must not fail
# because a newer compiler found something new to warn about.
function(pvt_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(PVT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
    # GCC 12 at -O3 (Release) reports -Wrestrict for std::string concatenations inlined from
    # libstdc++ (GCC bug 105651, fixed in 13): a warning, never an error.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
      target_compile_options(${target} PRIVATE $<$<CONFIG:Release>:-Wno-error=restrict>)
    endif()
  endif()
endfunction()

# The slim variant of a module (<name>_slim, see pvt_module's SLIM) takes these header-only
# stand-ins instead of the compiled C++ libraries, so that the binary built from slim modules (the
# tunnel worker) maps fewer shared libraries: each costs resident pages and dirty relocation pages
# in every process. Format: compiled=header-only.
set(PVT_SLIM_SUBSTITUTES
  spdlog::spdlog=pvt_spdlog_header_only
  fmt::fmt=fmt::fmt-header-only
  tomlplusplus::tomlplusplus=pvt_tomlplusplus_header_only)

# Debian's spdlog::spdlog_header_only links the compiled fmt::fmt; this one takes fmt's headers.
add_library(pvt_spdlog_header_only INTERFACE)
target_compile_definitions(pvt_spdlog_header_only INTERFACE SPDLOG_FMT_EXTERNAL)
target_include_directories(pvt_spdlog_header_only SYSTEM INTERFACE
  $<TARGET_PROPERTY:spdlog::spdlog_header_only,INTERFACE_INCLUDE_DIRECTORIES>)
target_link_libraries(pvt_spdlog_header_only INTERFACE fmt::fmt-header-only Threads::Threads)

# Debian's tomlplusplus::tomlplusplus is the shared library (TOML_HEADER_ONLY=0); its headers
# carry the whole implementation too.
add_library(pvt_tomlplusplus_header_only INTERFACE)
target_compile_definitions(pvt_tomlplusplus_header_only INTERFACE TOML_HEADER_ONLY=1)
target_include_directories(pvt_tomlplusplus_header_only SYSTEM INTERFACE
  $<TARGET_PROPERTY:tomlplusplus::tomlplusplus,INTERFACE_INCLUDE_DIRECTORIES>)

# The dependency list of a slim variant: compiled libraries replaced by their header-only
# stand-ins, our modules by their slim variants (which must exist).
function(pvt_slim_deps out)
  set(result "")
  foreach(dep ${ARGN})
    set(mapped ${dep})
    foreach(pair ${PVT_SLIM_SUBSTITUTES})
      string(REPLACE "=" ";" pair "${pair}")
      list(GET pair 0 from)
      list(GET pair 1 to)
      if(dep STREQUAL from)
        set(mapped ${to})
      endif()
    endforeach()
    if(dep MATCHES "^pvt_")
      if(NOT TARGET ${dep}_slim)
        message(FATAL_ERROR "${dep} has no slim variant (pvt_module(... SLIM))")
      endif()
      set(mapped ${dep}_slim)
    endif()
    list(APPEND result ${mapped})
  endforeach()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# A module library built from every .cpp in its directory (headers live beside them).
# Usage: pvt_module(NAME pvt_pve DIR ${CMAKE_CURRENT_SOURCE_DIR} DEPS ... [SLIM])
# SLIM also builds <NAME>_slim from the same sources against pvt_slim_deps(DEPS), for the slim
# tunnel worker (unless PVT_SLIM_WORKER is OFF); everything else links <NAME>.
function(pvt_module)
  cmake_parse_arguments(M "SLIM" "NAME;DIR" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${M_DIR}/*.cpp)
  list(FILTER srcs EXCLUDE REGEX ".*/main\\.cpp$")
  set(names ${M_NAME})
  if(M_SLIM AND PVT_SLIM_WORKER)
    list(APPEND names ${M_NAME}_slim)
  endif()
  foreach(name ${names})
    set(deps ${M_DEPS})
    if(name STREQUAL "${M_NAME}_slim")
      pvt_slim_deps(deps ${M_DEPS})
    endif()
    if(NOT srcs)
      # Header-only so far: still a target, so dependants can name it.
      add_library(${name} INTERFACE)
      target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR})
      target_link_libraries(${name} INTERFACE ${deps})
      continue()
    endif()
    add_library(${name} STATIC ${srcs})
    target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name} PUBLIC ${deps})
    pvt_warnings(${name})
    if(name STREQUAL "${M_NAME}_slim")
      # One section per function and object, so that the binary's --gc-sections drops the unused.
      target_compile_options(${name} PRIVATE -ffunction-sections -fdata-sections)
    endif()
  endforeach()
endfunction()
