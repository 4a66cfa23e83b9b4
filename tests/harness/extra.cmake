# tests/harness/extra.cmake — harness tests driven by the real `epr` binary
# (the cmocka programs tests/harness/test_*.c are picked up by the top-level
# CMakeLists.txt).  baseline_cli_tests.sh skips when MNIST-10k is not prepared.
foreach(case train errors)
  add_test(NAME harness/baseline_cli_${case}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/harness/baseline_cli_tests.sh ${case} $<TARGET_FILE:epr>
            ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/baseline-tests)
  set_tests_properties(harness/baseline_cli_${case} PROPERTIES LABELS harness TIMEOUT 300
    SKIP_REGULAR_EXPRESSION "SKIPPED: ")
endforeach()

# Nothing lost by accident (issue 18): overwrite refusals, the run lock,
# signals, the strict config, the run file's documentation (docs/runfile.md).
foreach(case overwrite lock config signals runfile sweep_hup sweep_kill)
  add_test(NAME harness/safety_${case}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/harness/safety_cli_tests.sh ${case} $<TARGET_FILE:epr>
            ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/safety-tests)
  set_tests_properties(harness/safety_${case} PROPERTIES LABELS harness TIMEOUT 300)
endforeach()

# issue 14 checks: epr eval's data set, a DFT group's ell, the validation split
foreach(case eval_data dft_ell validation)
  add_test(NAME harness/checks_cli_${case}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/harness/checks_cli_tests.sh ${case} $<TARGET_FILE:epr>
            ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/checks-tests)
  set_tests_properties(harness/checks_cli_${case} PROPERTIES LABELS harness TIMEOUT 120
    SKIP_REGULAR_EXPRESSION "SKIPPED: ")
endforeach()
