add_test(NAME e2e.bad_input COMMAND ${DSINFER_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/bad_input_test.py $<TARGET_FILE:dsinfer>)
set_tests_properties(e2e.bad_input PROPERTIES LABELS "e2e" TIMEOUT 300)
