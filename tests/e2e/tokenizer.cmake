# dsinfer tokenize / dsinfer template against the shared vectors and jinja2 goldens.
add_test(NAME tokenizer_cli
  COMMAND ${DSINFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/tokenizer_cli_test.py
          $<TARGET_FILE:dsinfer> ${CMAKE_CURRENT_SOURCE_DIR}/data/tokenizer)
# Under ASan on a busy 2-core machine it has taken over 120 s (12 s in a Release build).
set_tests_properties(tokenizer_cli PROPERTIES LABELS e2e TIMEOUT 400)
