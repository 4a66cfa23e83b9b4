# tests/layers/extra.cmake — the layer include rule (top-level
# CMakeLists.txt, "layer include roots"), checked with the real compiler.
add_test(NAME layers/include_rules
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/layers/check_layers.sh ${CMAKE_C_COMPILER}
          ${CMAKE_SOURCE_DIR}/src ${EPR_LAYER_ROOT})
set_tests_properties(layers/include_rules PROPERTIES LABELS layers)
