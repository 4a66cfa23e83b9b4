# cmake/cuda.cmake — the optional GPU path (-DEPR_CUDA=ON), included by the
# top-level CMakeLists.txt.  CUDA C kernels + cuBLAS; no other GPU library.
# Must compile with Debian 12's nvidia-cuda-toolkit 11.8 (nvcc wants g++ <= 11:
# -DCMAKE_CUDA_HOST_COMPILER=g++-11) and with CUDA 13.
#
#   src/nn/cuda/*.cu   -> epr-nn-cuda   (layers, loss, optimizers, EMA on the GPU)
#   src/epr/cuda/*.cu  -> epr-core-cuda (decoders, transforms, densities, rate)
#   tests/gpu/test_*.c -> ctest label "gpu"; exit 77 = skipped (no GPU present)
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90) # H100/H200; 11.8 knows sm_90 too
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
# No FMA contraction in kernels that are compared against the CPU reference
# (the CPU build uses -ffp-contract=off); kernels may opt in explicitly.
set(EPR_CUDA_FLAGS --fmad=false -Xcompiler=-Wall)

file(GLOB NN_CUDA_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/nn/cuda/*.cu)
if(NN_CUDA_SRC)
  add_library(epr-nn-cuda STATIC ${NN_CUDA_SRC})
  target_link_libraries(epr-nn-cuda PUBLIC epr-nn CUDA::cudart CUDA::cublas)
  target_compile_options(epr-nn-cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${EPR_CUDA_FLAGS}>)
endif()

file(GLOB EPR_CUDA_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/epr/cuda/*.cu)
if(EPR_CUDA_SRC)
  add_library(epr-core-cuda STATIC ${EPR_CUDA_SRC})
  target_link_libraries(epr-core-cuda PUBLIC epr-core CUDA::cudart CUDA::cublas)
  target_compile_options(epr-core-cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${EPR_CUDA_FLAGS}>)
endif()

# Training-step throughput of the device nn (docs/benchmarks.md, GPU section;
# bench/torch_gpu_nn.py is the PyTorch side of the comparison).
if(TARGET epr-nn-cuda)
  add_executable(bench_gpu_nn ${CMAKE_SOURCE_DIR}/bench/bench_gpu_nn.c)
  target_link_libraries(bench_gpu_nn PRIVATE epr-nn-cuda CUDA::cudart)
endif()

# GPU tests: each tests/gpu/test_*.c links everything CUDA that exists.
file(GLOB GPU_TEST_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/gpu/test_*.c)
foreach(src ${GPU_TEST_SRC})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE epr-harness PkgConfig::CMOCKA)
  foreach(lib epr-core-cuda epr-nn-cuda)
    if(TARGET ${lib})
      target_link_libraries(${name} PRIVATE ${lib})
    endif()
  endforeach()
  target_compile_definitions(${name} PRIVATE EPR_TEST_DATA="${EPR_TEST_DATA}"
    EPR_BINARY_DIR="${CMAKE_BINARY_DIR}")
  add_test(NAME gpu/${name} COMMAND ${name})
  set_tests_properties(gpu/${name} PROPERTIES LABELS gpu SKIP_RETURN_CODE 77
    ENVIRONMENT "OPENBLAS_NUM_THREADS=1;NVIDIA_TF32_OVERRIDE=0")
endforeach()
