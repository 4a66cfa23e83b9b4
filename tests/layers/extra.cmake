# tests/layers/extra.cmake — the layer include rule (top-level
# CMakeLists.txt, "layer include roots"), checked with the real compiler.
add_test(NAME layers/include_rules
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/layers/check_layers.sh ${CMAKE_C_COMPILER}
          ${CMAKE_SOURCE_DIR}/src ${EPR_LAYER_ROOT})
set_tests_properties(layers/include_rules PROPERTIES LABELS layers)

# The codec alone (EPR_CODEC_ONLY): configures, builds and passes its tests
# in a build of its own, so a codec-only deployment cannot break unseen.
# (scripts/codec_only_check.sh goes further: the other libraries hidden.)
add_test(NAME layers/codec_only_build
  COMMAND sh -c "rm -rf \"$1\" && cmake -S \"$0\" -B \"$1\" -DEPR_CODEC_ONLY=ON -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build \"$1\" -j2 >/dev/null && ctest --test-dir \"$1\" --output-on-failure"
          ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/codec-only)
set_tests_properties(layers/codec_only_build PROPERTIES LABELS layers TIMEOUT 900)
