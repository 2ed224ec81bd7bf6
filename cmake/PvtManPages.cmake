# Man pages generated from the programs' --help and --version with help2man (Debian: package
# help2man), gzipped (gzip -9n) and installed to share/man/man1 in each program's component:
#   pvectl-tunnel.1.gz (cli), pvectl-tunnel-worker.1.gz (worker), pvesim.1.gz (sim).
# Built by the target pvt_man_pages (part of `all`), only when help2man is found and not in a
# sanitizer build; otherwise there are no man pages and no install rules for them (the packages
# need them: cmake/PvtPackaging.cmake says so, scripts/build-debs.sh installs help2man).
#
# Sets PVT_SOURCE_DATE_EPOCH (also for cmake/PvtPackaging.cmake): $SOURCE_DATE_EPOCH, else the
# time of the last commit, else now. help2man dates the pages with it, so a rebuild of the same
# commit gives the same pages.

if(DEFINED ENV{SOURCE_DATE_EPOCH})
  set(PVT_SOURCE_DATE_EPOCH "$ENV{SOURCE_DATE_EPOCH}")
else()
  execute_process(COMMAND git log -1 --format=%ct
    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
    OUTPUT_VARIABLE PVT_SOURCE_DATE_EPOCH OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE pvt_git_result ERROR_QUIET)
  if(NOT pvt_git_result EQUAL 0 OR PVT_SOURCE_DATE_EPOCH STREQUAL "")
    string(TIMESTAMP PVT_SOURCE_DATE_EPOCH "%s" UTC)
  endif()
endif()

find_program(PVT_HELP2MAN help2man)
find_program(PVT_GZIP gzip)
set(PVT_MAN_PAGES OFF)
if(NOT PVT_HELP2MAN OR NOT PVT_GZIP)
  message(STATUS "help2man not found (Debian: package help2man): no man pages")
  return()
endif()
if(PVT_SANITIZE)
  # Not for packages, and the sanitizers' reports at exit would be help2man's input.
  message(STATUS "Sanitizer build: no man pages")
  return()
endif()
set(PVT_MAN_PAGES ON)
set(PVT_MAN_DIR "${PROJECT_BINARY_DIR}/man")
file(MAKE_DIRECTORY "${PVT_MAN_DIR}")

# pvt_man_page(TARGET <program> COMPONENT <c> NAME <one-line description for NAME>)
# packaging/man/<program>.h2m, if there, adds sections (help2man --include).
set(pvt_man_pages "")
function(pvt_man_page)
  cmake_parse_arguments(arg "" "TARGET;COMPONENT;NAME" "" ${ARGN})
  set(page "${PVT_MAN_DIR}/${arg_TARGET}.1")
  set(include "${PROJECT_SOURCE_DIR}/packaging/man/${arg_TARGET}.h2m")
  set(include_args "")
  set(include_deps "")
  if(EXISTS "${include}")
    set(include_args "--include=${include}")
    set(include_deps "${include}")
  endif()
  add_custom_command(OUTPUT "${page}.gz"
    COMMAND ${CMAKE_COMMAND} -E env SOURCE_DATE_EPOCH=${PVT_SOURCE_DATE_EPOCH} LC_ALL=C.UTF-8
      "${PVT_HELP2MAN}" --no-info --section=1 "--name=${arg_NAME}" ${include_args}
      "--output=${page}" "$<TARGET_FILE:${arg_TARGET}>"
    COMMAND "${PVT_GZIP}" -9nf "${page}"
    DEPENDS ${arg_TARGET} ${include_deps}
    COMMENT "Generating man page ${arg_TARGET}.1.gz (help2man)"
    VERBATIM)
  install(FILES "${page}.gz" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1"
    COMPONENT ${arg_COMPONENT})
  set(pvt_man_pages ${pvt_man_pages} "${page}.gz" PARENT_SCOPE)
endfunction()

pvt_man_page(TARGET pvectl-tunnel COMPONENT cli
  NAME "keep reverse SSH tunnel guests on Proxmox VE running and backed up")
pvt_man_page(TARGET pvectl-tunnel-worker COMPONENT worker
  NAME "the tunnel worker of pvectl-tunnel: one reverse SSH tunnel")
pvt_man_page(TARGET pvesim COMPONENT sim
  NAME "stateful Proxmox VE API simulator for demos and tests")
add_custom_target(pvt_man_pages ALL DEPENDS ${pvt_man_pages})
