# The header layout a consumer sees: "r2g2/<folder>/<file>.h" for every library folder,
# plus the generated umbrella "r2g2/r2g2.h". The build tree mirrors the installed tree
# under <build>/include/r2g2 (one link per library folder and the generated umbrella),
# so the library, the tests and an installed consumer include headers by the same paths,
# and nothing outside the library folders is reachable through them.
include(GNUInstallDirs)
set(R2G2_HEADER_FOLDERS core kernels layers estimators models)

set(R2G2_BUILD_INCLUDE_DIR ${PROJECT_BINARY_DIR}/include)
set(R2G2_BUILD_HEADER_ROOT ${R2G2_BUILD_INCLUDE_DIR}/r2g2)
# An older build tree has include/r2g2 as one link to the source root: replace it, or the
# links below and the umbrella would be written into the sources.
if(IS_SYMLINK ${R2G2_BUILD_HEADER_ROOT})
  file(REMOVE ${R2G2_BUILD_HEADER_ROOT})
endif()
file(MAKE_DIRECTORY ${R2G2_BUILD_HEADER_ROOT})
foreach(folder IN LISTS R2G2_HEADER_FOLDERS)
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${R2G2_BUILD_HEADER_ROOT}/${folder} SYMBOLIC)
endforeach()

# The umbrella's contents: the user-facing headers of core/ and estimators/ by name
# (their other headers are implementation seams), and every header of layers/ and
# models/, which are all user-facing, so a new layer or model joins the umbrella by
# existing.
set(R2G2_PUBLIC_HEADERS
  core/device.h core/dtype.h core/error.h core/shape.h core/tensor.h core/ops.h
  core/autograd.h core/anomaly.h core/profiler.h core/optim.h core/random.h core/checkpoint.h core/host_allocator.h
  core/data/datasets.h core/data/batches.h
  estimators/estimator.h estimators/r2g2_options.h estimators/moments.h)
file(GLOB R2G2_LAYER_AND_MODEL_HEADERS CONFIGURE_DEPENDS RELATIVE ${PROJECT_SOURCE_DIR}
  ${PROJECT_SOURCE_DIR}/layers/*.h ${PROJECT_SOURCE_DIR}/models/*.h)
list(APPEND R2G2_PUBLIC_HEADERS ${R2G2_LAYER_AND_MODEL_HEADERS})

set(R2G2_UMBRELLA_INCLUDES "")
foreach(header IN LISTS R2G2_PUBLIC_HEADERS)
  if(NOT EXISTS ${PROJECT_SOURCE_DIR}/${header})
    message(FATAL_ERROR "cmake/headers.cmake: public header ${header} does not exist")
  endif()
  string(APPEND R2G2_UMBRELLA_INCLUDES "#include \"r2g2/${header}\"\n")
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/r2g2.h.in ${R2G2_BUILD_HEADER_ROOT}/r2g2.h @ONLY)
