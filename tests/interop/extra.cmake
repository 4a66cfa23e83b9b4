# tests/interop/extra.cmake — issue 16 (export, Python reader, [model] init),
# driven by the real `epr` binary and /usr/bin/python3; each case skips
# (SKIPPED:) without MNIST-10k, numpy or (roundtrip, resnet18) torch.
# In a sanitizer build libepr-codec is instrumented, so the Python processes
# that load it with ctypes get the sanitizer runtimes preloaded
# (EPR_PY_PRELOAD; leak detection off for the interpreter alone).
set(EPR_INTEROP_ENV "EPR_CODEC_LIB=$<TARGET_FILE:epr-codec>")
if(EPR_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so OUTPUT_VARIABLE _asan
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libubsan.so OUTPUT_VARIABLE _ubsan
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND EPR_INTEROP_ENV "EPR_PY_PRELOAD=${_asan}:${_ubsan}")
endif()
foreach(case export reader init resnet18 roundtrip)
  add_test(NAME interop/${case}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/interop/interop_tests.sh ${case} $<TARGET_FILE:epr>
            ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/interop-tests)
  set_tests_properties(interop/${case} PROPERTIES LABELS interop TIMEOUT 600
    SKIP_REGULAR_EXPRESSION "SKIPPED: " ENVIRONMENT "${EPR_INTEROP_ENV}")
endforeach()
