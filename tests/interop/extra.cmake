# tests/interop/extra.cmake — issue 16 (export, Python reader, [model] init),
# driven by the real `epr` binary and /usr/bin/python3; each case skips
# (SKIPPED:) without MNIST-10k, numpy or (roundtrip) torch.
foreach(case export reader init resnet18 roundtrip)
  add_test(NAME interop/${case}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/interop/interop_tests.sh ${case} $<TARGET_FILE:epr>
            ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/interop-tests)
  set_tests_properties(interop/${case} PROPERTIES LABELS interop TIMEOUT 600
    SKIP_REGULAR_EXPRESSION "SKIPPED: "
    ENVIRONMENT "EPR_CODEC_LIB=$<TARGET_FILE:epr-codec>")
endforeach()
