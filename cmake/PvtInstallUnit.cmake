# Install-time part of pvt_install_unit (cmake/PvtInstall.cmake): writes one unit of
# templates/systemd/ with its paths pointing at the installed files. Runs inside
# cmake_install.cmake, where CMAKE_INSTALL_PREFIX is the prefix of this install (`--prefix`).
#
# In: PVT_UNIT_SRC, PVT_UNIT_BINARY (the program ExecStart= runs, empty for a timer),
# PVT_UNIT_DIR, PVT_UNIT_BINDIR, PVT_UNIT_DOCDIR.

function(pvt_under_prefix out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

pvt_under_prefix(pvt_unit_dir "${PVT_UNIT_DIR}")
pvt_under_prefix(pvt_bindir "${PVT_UNIT_BINDIR}")
pvt_under_prefix(pvt_docdir "${PVT_UNIT_DOCDIR}")
get_filename_component(pvt_unit_name "${PVT_UNIT_SRC}" NAME)

file(READ "${PVT_UNIT_SRC}" pvt_unit_text)
# The templates run `/usr/local/bin/pvectl-tunnel <command> ...`; the worker's unit runs the slim
# binary, which takes the same command line (`pvectl-tunnel-worker tunnel --config ... --name %i`).
set(pvt_template_binary "/usr/local/bin/pvectl-tunnel ")
if(NOT PVT_UNIT_BINARY STREQUAL "")
  string(FIND "${pvt_unit_text}" "ExecStart=${pvt_template_binary}" pvt_found)
  if(pvt_found EQUAL -1)
    message(FATAL_ERROR "${PVT_UNIT_SRC}: no `ExecStart=${pvt_template_binary}...` to point at "
      "${pvt_bindir}/${PVT_UNIT_BINARY}")
  endif()
  string(REPLACE "${pvt_template_binary}" "${pvt_bindir}/${PVT_UNIT_BINARY} "
    pvt_unit_text "${pvt_unit_text}")
endif()
string(REPLACE "file:///usr/share/doc/pvectl-tunnel/" "file://${pvt_docdir}/"
  pvt_unit_text "${pvt_unit_text}")

# Written straight to its destination, not staged in the build tree: installs into several
# DESTDIRs may run at once (the install test under `ctest -j`).
set(pvt_unit_dest "$ENV{DESTDIR}${pvt_unit_dir}/${pvt_unit_name}")
message(STATUS "Installing: ${pvt_unit_dest}")
file(MAKE_DIRECTORY "$ENV{DESTDIR}${pvt_unit_dir}")
file(WRITE "${pvt_unit_dest}" "${pvt_unit_text}")
file(CHMOD "${pvt_unit_dest}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${pvt_unit_dir}/${pvt_unit_name}")  # as file(INSTALL) does
