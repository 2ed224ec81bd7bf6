# Install rules: `cmake --install build --prefix /usr` (with DESTDIR=... for a staging tree)
# installs everything; `--component cli|worker|sim` one part, for packages split along them:
#   cli     pvectl-tunnel, the units of the controller, backup verification and the Prometheus
#           textfile report, README.md, docs/*.md (but pvesim.md), examples/config.toml, templates/
#   worker  pvectl-tunnel-worker, pvectl-tunnel@.service, the sysusers.d file of its user
#   sim     pvesim, docs/pvesim.md, examples/topology.toml
# and in each its program's man page (cmake/PvtManPages.cmake, when help2man is found) and, in
# share/doc/<package>/, the copyright and changelog.Debian.gz of its package
# (cmake/PvtPackaging.cmake).
# No file is in two components (tests/integration/install checks it).
#
# The units in templates/systemd/ name /usr/local/bin/pvectl-tunnel (they are also installed by
# hand); the installed copies name the installed binary instead. That path is only known at
# install time (`--prefix` may differ from CMAKE_INSTALL_PREFIX at configure time), so they are
# written then, by cmake/PvtInstallUnit.cmake.

set(CMAKE_INSTALL_DOCDIR "share/doc/pvectl-tunnel" CACHE PATH "Documentation of the cli component")
include(GNUInstallDirs)
set(PVT_SIM_DOCDIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/pvectl-tunnel-sim" CACHE STRING
  "Documentation of the sim component (pvesim)")
set(PVT_DATADIR "${CMAKE_INSTALL_DATADIR}/pvectl-tunnel")
include(cmake/PvtManPages.cmake)  # share/man/man1/<program>.1.gz per component, with help2man

# Where systemd looks for units and sysusers.d files: what systemd.pc says (Debian: package
# systemd-dev, or systemd in Debian 12), else under the install prefix. A relative value is taken
# under the prefix given at install time.
pkg_check_modules(PVT_SYSTEMD_PC QUIET systemd)
function(pvt_systemd_dir var pc_variable fallback what)
  if(NOT "${${var}}" STREQUAL "")
    return()
  endif()
  set(dir "")
  if(PVT_SYSTEMD_PC_FOUND)
    pkg_get_variable(dir systemd ${pc_variable})
  endif()
  if(dir STREQUAL "")
    set(dir "${fallback}")
    message(STATUS "systemd.pc not found (Debian: package systemd-dev, in Debian 12 systemd): "
      "${what} go to <prefix>/${fallback}; set ${var} to change that")
  endif()
  set_property(CACHE ${var} PROPERTY VALUE "${dir}")
endfunction()
set(PVT_SYSTEMD_UNIT_DIR "" CACHE STRING "Where the systemd units go (empty: systemd.pc's \
systemdsystemunitdir, else lib/systemd/system; relative: under the install prefix)")
set(PVT_SYSUSERS_DIR "" CACHE STRING "Where the sysusers.d file goes (empty: systemd.pc's \
sysusersdir, else lib/sysusers.d; relative: under the install prefix)")
pvt_systemd_dir(PVT_SYSTEMD_UNIT_DIR systemdsystemunitdir lib/systemd/system "systemd units")
pvt_systemd_dir(PVT_SYSUSERS_DIR sysusersdir lib/sysusers.d "sysusers.d files")
message(STATUS "systemd units: ${PVT_SYSTEMD_UNIT_DIR}, sysusers.d: ${PVT_SYSUSERS_DIR}")

# pvt_install_unit(COMPONENT <c> UNIT <file in templates/systemd> [BINARY <installed program>])
# BINARY: the program its ExecStart= runs, in place of /usr/local/bin/pvectl-tunnel.
function(pvt_install_unit)
  cmake_parse_arguments(arg "" "COMPONENT;UNIT;BINARY" "" ${ARGN})
  install(CODE "
    set(PVT_UNIT_SRC \"${PROJECT_SOURCE_DIR}/templates/systemd/${arg_UNIT}\")
    set(PVT_UNIT_BINARY \"${arg_BINARY}\")
    set(PVT_UNIT_DIR \"${PVT_SYSTEMD_UNIT_DIR}\")
    set(PVT_UNIT_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
    set(PVT_UNIT_DOCDIR \"${CMAKE_INSTALL_DOCDIR}\")
    include(\"${PROJECT_SOURCE_DIR}/cmake/PvtInstallUnit.cmake\")"
    COMPONENT ${arg_COMPONENT})
endfunction()

# cli
install(TARGETS pvectl-tunnel RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
foreach(unit pvectl-tunnel-controller.service pvectl-tunnel-backup-verify.service
    pvectl-tunnel-check-textfile.service)
  pvt_install_unit(COMPONENT cli UNIT ${unit} BINARY pvectl-tunnel)
endforeach()
foreach(unit pvectl-tunnel-backup-verify.timer pvectl-tunnel-check-textfile.timer)
  pvt_install_unit(COMPONENT cli UNIT ${unit})
endforeach()
file(GLOB pvt_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
list(REMOVE_ITEM pvt_docs ${PROJECT_SOURCE_DIR}/docs/pvesim.md)
install(FILES README.md ${pvt_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT cli)
install(FILES examples/config.toml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT cli)
install(DIRECTORY templates/ DESTINATION ${PVT_DATADIR}/templates COMPONENT cli)

# worker
install(TARGETS pvectl-tunnel-worker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT worker)
pvt_install_unit(COMPONENT worker UNIT pvectl-tunnel@.service BINARY pvectl-tunnel-worker)
install(FILES templates/sysusers.d/pvectl-tunnel.conf DESTINATION ${PVT_SYSUSERS_DIR}
  COMPONENT worker)

# sim
install(TARGETS pvesim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT sim)
install(FILES docs/pvesim.md DESTINATION ${PVT_SIM_DOCDIR} COMPONENT sim)
install(FILES examples/topology.toml DESTINATION ${PVT_SIM_DOCDIR}/examples COMPONENT sim)
