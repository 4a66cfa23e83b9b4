# tests/codec/extra.cmake — codec tests that are not cmocka programs, and
# the golden-file generator (built, not run as a test).

# The decoder library may depend on libc and libm only.
add_test(NAME codec/shared_lib_deps
  COMMAND sh ${CMAKE_SOURCE_DIR}/tests/codec/check_deps.sh $<TARGET_FILE:epr-codec>
          $<$<BOOL:${EPR_SANITIZE}>:sanitize>)
set_tests_properties(codec/shared_lib_deps PROPERTIES LABELS codec)

# gen_golden OUTDIR rewrites tests/data/golden/ when the format changes.
add_executable(gen_golden ${CMAKE_SOURCE_DIR}/tests/codec/gen_golden.c)
target_link_libraries(gen_golden PRIVATE epr-codec-static m)

# test_alloc_fail: every allocation of the codec through the test's wrappers
# (the N-th fails), and epr_encode wrapped so only its own are armed.
if(TARGET test_alloc_fail)
  target_link_options(test_alloc_fail PRIVATE
    -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=epr_encode)
endif()

# The two CLI tests drive the `epr` binary, absent from a codec-only build.
if(TARGET epr)
# forge_epr OUTDIR GOLDEN writes the forged files of forged_cli_tests.sh.
add_executable(forge_epr ${CMAKE_SOURCE_DIR}/tests/codec/forge_epr.c)
target_link_libraries(forge_epr PRIVATE epr-codec-static m)
add_test(NAME codec/forged_cli
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/codec/forged_cli_tests.sh $<TARGET_FILE:epr>
          $<TARGET_FILE:forge_epr> ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/forged-cli-tests
          $<$<BOOL:${EPR_SANITIZE}>:sanitize>)
set_tests_properties(codec/forged_cli PROPERTIES LABELS codec TIMEOUT 300)

# A decoder written from docs/format.md alone agrees with libepr-codec
# (theta bitwise) and with epr eval (predictions).
add_test(NAME codec/reference_decoder
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/codec/reference_decoder_tests.sh $<TARGET_FILE:epr>
          ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/reference-decoder-tests)
set_tests_properties(codec/reference_decoder PROPERTIES LABELS codec TIMEOUT 600
  SKIP_REGULAR_EXPRESSION "SKIPPED: ")
endif()
