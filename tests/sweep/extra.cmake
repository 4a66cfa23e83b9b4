# tests/sweep/extra.cmake — `epr sweep` / `epr pareto` / analysis scripts,
# end to end with the real binary (test_sweep.c, the unit tests, is picked
# up as a cmocka program by the top-level CMakeLists.txt).
foreach(case pareto sweep baselines points check)
  add_test(NAME sweep/cli_${case}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/sweep/sweep_cli_tests.sh ${case} $<TARGET_FILE:epr>
            ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/sweep-tests)
  set_tests_properties(sweep/cli_${case} PROPERTIES LABELS sweep TIMEOUT 300)
endforeach()
