# cmake/cuda-train.cmake — the run layer's device path ([train] device = cuda,
# src/run/train_cuda.c), included by the top-level CMakeLists.txt after
# cmake/cuda.cmake when -DEPR_CUDA=ON.  epr-run then defines EPR_CUDA (PUBLIC:
# tests see it) and links the nn and EPR device libraries; without this
# fragment (the default build) train.c refuses device = cuda with
# "rebuild with -DEPR_CUDA=ON".
if(TARGET epr-nn-cuda AND TARGET epr-core-cuda)
  target_sources(epr-run PRIVATE ${CMAKE_SOURCE_DIR}/src/run/train_cuda.c)
  target_compile_definitions(epr-run PUBLIC EPR_CUDA=1)
  target_link_libraries(epr-run PUBLIC epr-core-cuda epr-nn-cuda CUDA::cudart)
  # Every target that links epr-run now links CUDA code: the ones made before
  # cmake/cuda.cmake set CMAKE_CUDA_ARCHITECTURES (tests, epr) need the property.
  get_property(_epr_targets DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_t ${_epr_targets})
    get_target_property(_type ${_t} TYPE)
    if(NOT _type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(_arch ${_t} CUDA_ARCHITECTURES)
      if(NOT _arch)
        set_target_properties(${_t} PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
      endif()
    endif()
  endforeach()
else()
  message(WARNING "EPR_CUDA=ON but src/nn/cuda or src/epr/cuda has no sources: [train] device = cuda is not built")
endif()
