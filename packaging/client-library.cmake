# The C++ client library for programs outside this tree (install component
# `dev`, Debian package qmesh-dev; docs/operations.md, "Building a program
# against the client library"). Included from the top-level CMakeLists.txt.
#
#   <prefix>/include/qmesh/client/client.hpp   and the core/*.hpp it includes
#   <libdir>/libqmesh-client.a                 one archive, see below
#   <libdir>/pkgconfig/qmesh-client.pc         written for the install prefix
#
# Programs include "client/client.hpp" (the header's own includes are
# "core/..."), so the include directory is <prefix>/include/qmesh.

# One archive with every object the client can reach: the client and the
# libraries it links (actors, domain, store, protocol codecs). The linker
# takes only the members a program needs; those need CAF (core, io,
# openssl), OpenSSL and threads, the Libs of qmesh-client.pc (checked by
# the test package.client_library, which links a program with nothing else).
add_library(qmesh_client_dist STATIC
  $<TARGET_OBJECTS:qmesh_client>
  $<TARGET_OBJECTS:qmesh_core>
  $<TARGET_OBJECTS:qmesh_domain>
  $<TARGET_OBJECTS:qmesh_store>
  $<TARGET_OBJECTS:qmesh_protocols>)
set_target_properties(qmesh_client_dist PROPERTIES
  OUTPUT_NAME qmesh-client LINKER_LANGUAGE CXX)
install(TARGETS qmesh_client_dist ARCHIVE
  DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
# `cmake --install --strip` and CPack leave static archives as they are; the
# debug information is most of this one's size (hundreds of MB), so drop it
# (and the compiler's .comment, as Debian's dh_strip does).
install(CODE "
  if(CMAKE_INSTALL_DO_STRIP)
    execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
      --remove-section=.comment
      \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:qmesh_client_dist>\"
      COMMAND_ERROR_IS_FATAL ANY)
  endif()" COMPONENT dev)

# The public header and the core headers it includes (compiled alone by the
# test, so a missing one fails it).
install(FILES client/client.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/qmesh/client COMPONENT dev)
install(FILES core/cluster_info.hpp core/message.hpp core/queue_attrs.hpp
  core/requests.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/qmesh/core COMPONENT dev)

# qmesh-client.pc names the prefix the files are installed under
# (`cmake --install --prefix DIR` included), so it is written at install time.
install(CODE "
  set(QMESH_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(QMESH_PC_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(QMESH_PC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(QMESH_PC_VERSION \"${PROJECT_VERSION}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/packaging/qmesh-client.pc.in\"
    \"${PROJECT_BINARY_DIR}/packaging/qmesh-client.pc\" @ONLY)" COMPONENT dev)
install(FILES ${PROJECT_BINARY_DIR}/packaging/qmesh-client.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
