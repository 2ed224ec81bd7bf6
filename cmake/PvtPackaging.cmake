# .deb packages with CPack, one per install component (cmake/PvtInstall.cmake):
#   cli     -> pvectl-tunnel         Section admin
#   worker  -> pvectl-tunnel-worker  Section net
#   sim     -> pvectl-tunnel-sim     Section devel
# Built by scripts/build-debs.sh (`cpack -G DEB` in the build tree, which needs the programs
# and pvt_man_pages built first: with Ninja, cpack builds nothing). File names:
# <package>_<version>-<revision>~<codename>_<arch>.deb, e.g.
# pvectl-tunnel_0.1.0-1~bookworm_amd64.deb. The codename is in the version too, so that apt
# tells the packages built on Debian 12 and 13 apart (1~bookworm < 1~trixie < 1).
#
# Depends: computed by dpkg-shlibdeps (package dpkg-dev) from the stripped binaries.
# Maintainer scripts (packaging/deb/): daemon-reload when systemd runs, the worker's user from
# its sysusers.d file; no unit is enabled or started (the config has to be written first).
# Nothing goes to /etc, so there are no conffiles.

set(PVT_DEB_REVISION "1" CACHE STRING "Debian revision of the packages")
set(PVT_DEB_MAINTAINER "" CACHE STRING
  "Maintainer: field of the packages (empty: git's user.name <user.email>)")
set(PVT_DEB_CODENAME "" CACHE STRING
  "Distribution codename in the version (empty: VERSION_CODENAME of /etc/os-release)")

if(PVT_DEB_CODENAME STREQUAL "" AND EXISTS /etc/os-release)
  file(STRINGS /etc/os-release pvt_codename REGEX "^VERSION_CODENAME=")
  string(REGEX REPLACE "^VERSION_CODENAME=\"?([^\"]*)\"?$" "\\1" pvt_codename "${pvt_codename}")
  set_property(CACHE PVT_DEB_CODENAME PROPERTY VALUE "${pvt_codename}")
endif()
if(PVT_DEB_MAINTAINER STREQUAL "")
  execute_process(COMMAND git config user.name WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
    OUTPUT_VARIABLE pvt_name OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  execute_process(COMMAND git config user.email WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
    OUTPUT_VARIABLE pvt_email OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(pvt_name STREQUAL "" OR pvt_email STREQUAL "")
    set(pvt_name "pvectl-tunnel maintainers")
    set(pvt_email "pvectl-tunnel@invalid.example")
  endif()
  set_property(CACHE PVT_DEB_MAINTAINER PROPERTY VALUE "${pvt_name} <${pvt_email}>")
endif()

set(pvt_deb_release "${PVT_DEB_REVISION}")
if(NOT PVT_DEB_CODENAME STREQUAL "")
  string(APPEND pvt_deb_release "~${PVT_DEB_CODENAME}")
endif()
set(pvt_deb_version "${PROJECT_VERSION}-${pvt_deb_release}")

find_program(PVT_DPKG dpkg)
set(pvt_deb_arch "")
if(PVT_DPKG)
  execute_process(COMMAND "${PVT_DPKG}" --print-architecture
    OUTPUT_VARIABLE pvt_deb_arch OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
if(NOT PVT_MAN_PAGES)
  message(STATUS "No man pages for the .deb packages (help2man not found, or a sanitizer build)")
endif()

# Per package: share/doc/<package>/copyright and changelog.Debian.gz (gzip -9n), as Debian
# policy wants them. There is no LICENSE file in the tree yet: packaging/deb/copyright says so.
set(pvt_deb_dir "${PROJECT_BINARY_DIR}/packaging/deb")
file(MAKE_DIRECTORY "${pvt_deb_dir}")
set(ENV{SOURCE_DATE_EPOCH} "${PVT_SOURCE_DATE_EPOCH}")
string(TIMESTAMP pvt_deb_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
unset(ENV{SOURCE_DATE_EPOCH})
set(pvt_deb_distribution "${PVT_DEB_CODENAME}")
if(pvt_deb_distribution STREQUAL "")
  set(pvt_deb_distribution "unstable")
endif()
file(WRITE "${pvt_deb_dir}/changelog.Debian"
"pvectl-tunnel (${pvt_deb_version}) ${pvt_deb_distribution}; urgency=medium

  * Packages of pvectl-tunnel ${PROJECT_VERSION}, built with CPack from the build tree
    (scripts/build-debs.sh).

 -- ${PVT_DEB_MAINTAINER}  ${pvt_deb_date}
")
execute_process(COMMAND gzip -9n -c "${pvt_deb_dir}/changelog.Debian"
  OUTPUT_FILE "${pvt_deb_dir}/changelog.Debian.gz" RESULT_VARIABLE pvt_gzip_result)
if(NOT pvt_gzip_result EQUAL 0)
  message(FATAL_ERROR "gzip -9n of ${pvt_deb_dir}/changelog.Debian failed")
endif()

# The years of the first and the last commit (else of PVT_SOURCE_DATE_EPOCH).
execute_process(COMMAND git log --reverse --format=%cd --date=format:%Y
  WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE pvt_years ERROR_QUIET)
string(REGEX MATCHALL "[0-9]+" pvt_years "${pvt_years}")
if(pvt_years)
  list(GET pvt_years 0 pvt_first_year)
  list(GET pvt_years -1 pvt_last_year)
else()
  set(ENV{SOURCE_DATE_EPOCH} "${PVT_SOURCE_DATE_EPOCH}")
  string(TIMESTAMP pvt_first_year "%Y" UTC)
  unset(ENV{SOURCE_DATE_EPOCH})
  set(pvt_last_year "${pvt_first_year}")
endif()
set(PVT_COPYRIGHT_YEARS "${pvt_first_year}")
if(NOT pvt_last_year STREQUAL pvt_first_year)
  set(PVT_COPYRIGHT_YEARS "${pvt_first_year}-${pvt_last_year}")
endif()
configure_file(packaging/deb/copyright.in "${pvt_deb_dir}/copyright" @ONLY)

set(PVT_WORKER_DOCDIR "${CMAKE_INSTALL_DATAROOTDIR}/doc/pvectl-tunnel-worker")
foreach(pair "cli;${CMAKE_INSTALL_DOCDIR}" "worker;${PVT_WORKER_DOCDIR}" "sim;${PVT_SIM_DOCDIR}")
  list(GET pair 0 component)
  list(GET pair 1 docdir)
  install(FILES "${pvt_deb_dir}/copyright" "${pvt_deb_dir}/changelog.Debian.gz"
    DESTINATION "${docdir}" COMPONENT ${component})
endforeach()

# Stripped as dh_strip does: besides the symbols and the debug info (-g1) that the install's
# strip removes (CPACK_STRIP_FILES), the .comment and .note sections (lintian:
# binary-has-unneeded-section). Runs after install(TARGETS), in the same component.
foreach(pair "cli;pvectl-tunnel" "worker;pvectl-tunnel-worker" "sim;pvesim")
  list(GET pair 0 component)
  list(GET pair 1 program)
  install(CODE "
    if(CMAKE_INSTALL_DO_STRIP)
      set(pvt_program \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/${program}\")
      execute_process(COMMAND \"${CMAKE_STRIP}\" --remove-section=.comment --remove-section=.note
        \"\${pvt_program}\" RESULT_VARIABLE pvt_strip_result)
      if(NOT pvt_strip_result EQUAL 0)
        message(FATAL_ERROR \"strip --remove-section=.comment of \${pvt_program} failed\")
      endif()
    endif()" COMPONENT ${component})
endforeach()

# Maintainer scripts, named as dpkg wants them, one directory per package.
foreach(pair "cli;postinst-cli" "cli;postrm" "worker;postinst-worker" "worker;postrm")
  list(GET pair 0 component)
  list(GET pair 1 script)
  string(REGEX REPLACE "-.*" "" name "${script}")
  configure_file(packaging/deb/${script} "${pvt_deb_dir}/${component}/${name}" COPYONLY
    FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ
    WORLD_EXECUTE)
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pvectl-tunnel)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${PVT_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}/debs")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# The units and the sysusers.d file have absolute destinations (/lib/systemd/system on Debian
# 12, /usr/lib/... on 13, from systemd.pc): with DESTDIR set to the staging tree they land in
# it, not in the build host's /lib.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # the build's -g1 stays out of the packages
set(CPACK_COMPONENTS_ALL cli worker sim)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${pvt_deb_release}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${PVT_DEB_MAINTAINER}")
if(NOT pvt_deb_arch STREQUAL "")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${pvt_deb_arch}")
endif()
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_CLI_PACKAGE_NAME pvectl-tunnel)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION admin)
# Beside what dpkg-shlibdeps finds: procps for /bin/kill, the ExecReload= of the controller's and
# the worker's units (not Essential: a minimal root or container can lack it).
set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS procps)
set(CPACK_DEBIAN_CLI_PACKAGE_SUGGESTS "pvectl-tunnel-worker, prometheus-node-exporter")
set(CPACK_DEBIAN_CLI_PACKAGE_CONTROL_EXTRA
  "${pvt_deb_dir}/cli/postinst;${pvt_deb_dir}/cli/postrm")
set(CPACK_DEBIAN_CLI_DESCRIPTION
"keeps reverse SSH tunnel guests on Proxmox VE running and backed up
pvectl-tunnel keeps the reverse SSH tunnel guests of a Proxmox VE cluster
started at boot, in order, running and backed up, and reports their
compliance (monitoring plugin exit codes, Prometheus textfile metrics).

This package holds the command line tool and controller, the systemd units
of the controller, of backup verification and of the Prometheus textfile
report, the documentation and the configuration templates. Installing it
enables and starts no unit: write /etc/pvectl-tunnel/config.toml first
(example in /usr/share/doc/pvectl-tunnel/examples/), then enable the units.")

set(CPACK_DEBIAN_WORKER_PACKAGE_NAME pvectl-tunnel-worker)
set(CPACK_DEBIAN_WORKER_PACKAGE_SECTION net)
set(CPACK_DEBIAN_WORKER_PACKAGE_DEPENDS procps)  # /bin/kill, as above
set(CPACK_DEBIAN_WORKER_PACKAGE_CONTROL_EXTRA
  "${pvt_deb_dir}/worker/postinst;${pvt_deb_dir}/worker/postrm")
set(CPACK_DEBIAN_WORKER_DESCRIPTION
"tunnel worker of pvectl-tunnel for the tunnel guests
The worker holds one SSH session to a VPS with a remote forward, relays the
forwarded connections to a local target and answers the pvectl-tunnel
controller on a small control API. It is the slim binary of the tunnel
guests, with the fewest libraries.

This package holds the worker, the template unit pvectl-tunnel@.service and
the pvectl-tunnel system user (created through sysusers.d). Installing it
enables and starts no instance: write /etc/pvectl-tunnel/config.toml first,
then enable pvectl-tunnel@NAME.service.")

set(CPACK_DEBIAN_SIM_PACKAGE_NAME pvectl-tunnel-sim)
set(CPACK_DEBIAN_SIM_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_SIM_DESCRIPTION
"Proxmox VE API simulator for pvectl-tunnel demos and tests
pvesim serves a stateful simulation of the Proxmox VE API described by a
topology file, so that pvectl-tunnel can be tried and tested without a
cluster. It is not needed on Proxmox VE hosts or in tunnel guests.")

include(CPack)
