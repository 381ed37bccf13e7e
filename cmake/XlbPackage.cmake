# xlbd's installed files and the Debian package that CPack builds from the
# install rules (scripts/package: `cpack -G DEB` in a Release build).
# Included last by CMakeLists.txt, after every installed target.

# xlbd itself is installed beside xlbctl (CMakeLists.txt); its pages and completion (tests/unit/docs_test.sh checks where they land).
install(FILES docs/xlbd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES docs/xlbd.conf.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES tools/completion/xlbd.bash
    DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME xlbd)

# The systemd unit, with this prefix's paths. The unit directory is under the
# prefix: /usr/lib/systemd/system in the package.
set(XLB_SYSTEMD_UNITDIR lib/systemd/system CACHE STRING "Where xlbd.service is installed (relative: under the prefix)")
set(XLB_SBINDIR_FULL ${CMAKE_INSTALL_FULL_SBINDIR})
set(XLB_SYSCONFDIR_FULL ${CMAKE_INSTALL_FULL_SYSCONFDIR})
configure_file(dist/xlbd.service.in ${CMAKE_BINARY_DIR}/dist/xlbd.service @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/dist/xlbd.service DESTINATION ${XLB_SYSTEMD_UNITDIR})
# DAEMON_ARGS, as /etc/default/keepalived. scripts/package sets
# CMAKE_INSTALL_SYSCONFDIR=/etc (as debhelper does); otherwise <prefix>/etc.
install(FILES dist/xlbd.default DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/default RENAME xlbd)

# --- CPack: one binary package, xlb_<version>_<arch>.deb --------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME xlb)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR xlb)
set(CPACK_PACKAGE_CONTACT "xlb maintainers <maintainers@users.noreply.r-seed-6f2e2618.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF/XDP layer-4 load balancer with ipvsadm and keepalived's grammar")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${CPACK_PACKAGE_CONTACT})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The summary is the synopsis; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "xlb forwards layer-4 traffic in XDP, before the kernel's network stack,
with IPVS's schedulers and forwarding methods (NAT, DR, TUN). Where a driver
has no XDP it programs kernel IPVS instead, with the same tools.
xlbctl speaks ipvsadm's command language. xlbd reads keepalived.conf's
virtual_server blocks and health-checks the real servers as keepalived does
(TCP, HTTP, SSL, MISC, UDP and DNS checks); keepalived keeps VRRP.")
# Depends: from the libraries the binaries link (dpkg-shlibdeps, dpkg-dev),
# so only Debian's own packages.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "keepalived, ipvsadm")
# /etc/default/xlbd is the operator's file: kept on upgrade and remove.
file(WRITE ${CMAKE_BINARY_DIR}/dist/debian/conffiles "${CMAKE_INSTALL_FULL_SYSCONFDIR}/default/xlbd\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/dist/debian/conffiles
    ${CMAKE_SOURCE_DIR}/dist/debian/postinst
    ${CMAKE_SOURCE_DIR}/dist/debian/prerm
    ${CMAKE_SOURCE_DIR}/dist/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
