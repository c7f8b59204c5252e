# Installs the library, its headers and an exported CMake package so that a program
# outside the tree can `find_package(r2g2)` and link against `r2g2::r2g2`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(R2G2_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/r2g2)

install(TARGETS r2g2 EXPORT r2g2Targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS r2g2_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Headers keep their folders (the layout of cmake/headers.cmake). Declaration files
# (*.inc), which headers include, and device-code headers (*.cuh), which CUDA code built
# against r2g2 includes, go with them.
foreach(folder IN LISTS R2G2_HEADER_FOLDERS)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/r2g2
    FILES_MATCHING PATTERN "*.h" PATTERN "*.inc" PATTERN "*.cuh")
endforeach()
install(FILES ${R2G2_BUILD_HEADER_ROOT}/r2g2.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/r2g2)
install(EXPORT r2g2Targets NAMESPACE r2g2:: DESTINATION ${R2G2_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/r2g2Config.cmake.in
  ${PROJECT_BINARY_DIR}/r2g2Config.cmake INSTALL_DESTINATION ${R2G2_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/r2g2ConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/r2g2Config.cmake ${PROJECT_BINARY_DIR}/r2g2ConfigVersion.cmake
  DESTINATION ${R2G2_INSTALL_CMAKEDIR})
